"""Error mapping, tracking ids, Retry-After parsing, malformed bodies, partial errors."""

from __future__ import annotations

import pytest
import requests
import responses

from django_webexteams import client as api
from django_webexteams.client import (
    ApiError,
    LockedError,
    MalformedResponseError,
    RateLimitedError,
    RetryLaterError,
    WebexClient,
)
from django_webexteams.client.retry_after import parse_retry_after

from .conftest import BASE_URL

ERROR_BODY = {
    "message": "The requested resource could not be found.",
    "errors": [{"description": "The requested resource could not be found."}],
    "trackingId": "ROUTER_BODY",
}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, api.BadRequestError),
        (401, api.UnauthorizedError),
        (403, api.ForbiddenError),
        (404, api.NotFoundError),
        (405, api.MethodNotAllowedError),
        (409, api.ConflictError),
        (410, api.GoneError),
        (415, api.UnsupportedMediaTypeError),
        (423, api.LockedError),
        (428, api.PreconditionRequiredError),
        (429, api.RateLimitedError),
        (500, api.ServerError),
        (502, api.ServerError),
        (503, api.ServerError),
        (504, api.ServerError),
        (418, api.ApiError),
    ],
)
def test_status_maps_to_error_class(
    status: int, cls: type[ApiError], client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(
        f"{BASE_URL}/rooms", status=status, json=ERROR_BODY, headers={"TrackingID": "ROUTER_HEADER"}
    )
    with pytest.raises(cls) as info:
        client.rooms.create("x")  # POST: never retried, so one call whatever the status
    err = info.value
    assert type(err) is cls
    assert isinstance(err, api.WebexError)
    assert err.status_code == status
    assert err.message == ERROR_BODY["message"]
    assert err.errors == ERROR_BODY["errors"]
    assert err.description == "The requested resource could not be found."
    assert err.tracking_id == "ROUTER_BODY"  # body wins over header
    assert str(status) in str(err) and "ROUTER_BODY" in str(err)
    assert "/rooms" in str(err)


def test_tracking_id_from_header_when_body_is_not_json(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{BASE_URL}/rooms/R",
        status=502,
        body="<html>Bad Gateway</html>",
        headers={"TrackingID": "ROUTER_H", "Content-Type": "text/html"},
    )
    client._transport.retry = api.RetryPolicy.no_retries()
    with pytest.raises(api.ServerError) as info:
        client.rooms.get("R")
    assert info.value.tracking_id == "ROUTER_H"
    assert info.value.message  # reason phrase, never empty


def test_error_with_unexpected_json_shape(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{BASE_URL}/rooms/R", status=404, json=["not", "an", "object"])
    with pytest.raises(api.NotFoundError) as info:
        client.rooms.get("R")
    assert info.value.errors == [] and info.value.tracking_id is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("2.5", 2.5),
        (" 7 ", 7.0),
        ("0", 1.0),  # never below 1
        ("-5", 1.0),
        ("0.2", 1.0),
        (None, 15.0),  # missing
        ("", 15.0),
        ("rand(30),add(30)", 15.0),  # seen in production
        ("soon", 15.0),
        ("nan", 15.0),
        ("inf", 3600.0),
        ("99999999", 3600.0),  # capped
        (b"12", 12.0),
        (20, 20.0),
        (True, 15.0),
    ],
)
def test_parse_retry_after(value: object, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:40 GMT", now=1445412490.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 1.0


@pytest.mark.parametrize(("status", "cls"), [(429, RateLimitedError), (423, LockedError)])
@pytest.mark.parametrize(("header", "seconds"), [("42", 42.0), ("rand(30)", 15.0), (None, 15.0)])
def test_retry_later_errors_carry_retry_after(
    status: int,
    cls: type[RetryLaterError],
    header: str | None,
    seconds: float,
    client: WebexClient,
    rsps: responses.RequestsMock,
) -> None:
    headers = {"Retry-After": header} if header else {}
    rsps.get(f"{BASE_URL}/people/me", status=status, json={"message": "slow down"}, headers=headers)
    with pytest.raises(cls) as info:
        client.people.me()
    assert info.value.retry_after == seconds
    assert isinstance(info.value, RetryLaterError)
    assert f"retry after {seconds:g}s" in str(info.value)
    assert len(rsps.calls) == 1  # 429/423 raise by default


def test_retry_later_error_constructor_normalises() -> None:
    err = RateLimitedError(429, "x", retry_after=0)
    assert err.retry_after == 1.0
    assert RateLimitedError(429).retry_after == 15.0
    assert "retry_after=15.0" in repr(RateLimitedError(429))


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"id": "R1", "title": "trunc', b"\xff\xfe\x00", b"[1, 2"],
)
def test_malformed_success_body(
    body: bytes, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{BASE_URL}/rooms/R1",
        body=body,
        status=200,
        headers={"TrackingID": "ROUTER_M", "Content-Type": "application/json"},
    )
    with pytest.raises(MalformedResponseError) as info:
        client.rooms.get("R1")
    text = str(info.value)
    assert "200" in text and "ROUTER_M" in text
    assert info.value.status_code == 200 and info.value.tracking_id == "ROUTER_M"
    assert not isinstance(info.value, KeyError | ValueError)


def test_success_json_that_is_not_an_object(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{BASE_URL}/rooms/R1", json=["a"], headers={"TrackingID": "ROUTER_L"})
    with pytest.raises(MalformedResponseError, match="ROUTER_L"):
        client.rooms.get("R1")


def test_body_cut_off_mid_read(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{BASE_URL}/rooms/R1", body=requests.exceptions.ChunkedEncodingError("Connection broken")
    )
    client._transport.retry = api.RetryPolicy.no_retries()
    with pytest.raises(api.TransportError):
        client.rooms.get("R1")


def test_partial_errors_on_list_items(client: WebexClient, rsps: responses.RequestsMock) -> None:
    # WEBEX-FACTS: status 200, an item carries "errors": {"<field>": {"code", "reason"}}.
    rsps.get(
        f"{BASE_URL}/rooms",
        json={
            "items": [
                {"id": "R1", "title": "ok", "type": "group"},
                {
                    "id": "R2",
                    "type": "group",
                    "errors": {
                        "title": {
                            "code": "kms_failure",
                            "reason": "Key management server failed to respond",
                        }
                    },
                },
            ]
        },
        headers={"TrackingID": "ROUTER_P"},
    )
    ok, broken = list(client.rooms.list())
    assert not ok.has_errors and ok.errors is None
    assert broken.has_errors
    assert broken.errors == {
        "title": {"code": "kms_failure", "reason": "Key management server failed to respond"}
    }
    assert broken.title is None and broken.id == "R2"
    assert broken.tracking_id == "ROUTER_P"


def test_people_not_found_ids_kept_in_raw(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{BASE_URL}/people", json={"items": [], "notFoundIds": ["X"]})
    page = client.people.list(id=["X"]).first_page()
    assert page.items == [] and page.extra == {"notFoundIds": ["X"]}
    assert str(rsps.calls[0].request.url).endswith("id=X")


def test_errors_pickle_with_their_attributes() -> None:
    import pickle

    err = RateLimitedError(
        429, "slow", retry_after=7, tracking_id="ROUTER_Z", errors=[{"description": "d"}]
    )
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is RateLimitedError
    assert (copy.status_code, copy.message, copy.retry_after, copy.tracking_id, copy.errors) == (
        429,
        "slow",
        7.0,
        "ROUTER_Z",
        [{"description": "d"}],
    )
    assert str(copy) == str(err) and copy.response is None
    timeout = pickle.loads(pickle.dumps(api.TransportError("t", is_timeout=True)))
    assert timeout.is_timeout and str(timeout) == "t"


def test_status_classes_know_their_status() -> None:
    assert RateLimitedError(retry_after=5).status_code == 429
    assert LockedError().status_code == 423
    assert api.NotFoundError(message="x").status_code == 404
    assert api.ServerError().status_code == 500
    assert api.ServerError(503).status_code == 503
