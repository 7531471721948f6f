"""The client's fast paths give the same results as the general ones: timestamp parsing,
lazily read model fields, id quoting, cached per-request state (headers, trust, auth)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from django_webexteams.client import WebexClient, models
from django_webexteams.client.resources._base import seg

BASE = "https://webexapis.com/v1"

ROOM_JSON: dict[str, Any] = {
    "id": "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0",
    "title": "Project Unicorn",
    "type": "group",
    "isLocked": True,
    "lastActivity": "2016-04-21T19:12:48.920Z",
    "created": "2016-04-21T19:01:55.966Z",
    "madePublic": "not a time",
    "futureField": [1, 2],
    "errors": {"title": {"code": "kms_failure", "reason": "Key management server failed"}},
}


@given(st.datetimes(timezones=st.just(UTC)))
def test_webex_shaped_timestamps_parse_like_the_general_path(value: datetime) -> None:
    text = f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"
    parsed = models.parse_datetime(text)
    assert parsed == models._parse_datetime_general(text)
    assert parsed is not None and parsed.utcoffset() is not None


@given(st.text(alphabet="0123456789-T:.Zz+ ", max_size=30))
def test_any_string_parses_like_the_general_path(text: str) -> None:
    fast, general = models.parse_datetime(text), models._parse_datetime_general(text)
    assert fast == general
    assert (fast is None) == (general is None)


@pytest.mark.parametrize(
    "text",
    [
        "2015-13-18T14:26:16.203Z",  # right shape, impossible month
        "\uff12\uff1015-10-18T14:26:16.203Z",  # non-ASCII (fullwidth) digits
        "2015-10-18T14:26:16.203Z\n",
        " 2015-10-18T14:26:16.203Z",
        "2015-10-18T14:26:16,203Z",
    ],
)
def test_odd_inputs_of_the_fast_shape_fall_back(text: str) -> None:
    assert models.parse_datetime(text) == models._parse_datetime_general(text)


def _both() -> tuple[models.Room, models.Room]:
    eager = models.Room.from_json(ROOM_JSON, tracking_id="T")
    lazy = models.Room._from_owned_json(copy.deepcopy(ROOM_JSON), "T")
    return eager, lazy


def test_lazy_model_equals_the_eager_one() -> None:
    eager, lazy = _both()
    assert lazy == eager and hash(lazy) == hash(eager) and repr(lazy) == repr(eager)
    assert lazy.created == datetime(2016, 4, 21, 19, 1, 55, 966000, tzinfo=UTC)
    assert lazy.made_public is None and lazy.raw["madePublic"] == "not a time"
    assert lazy.errors == ROOM_JSON["errors"] and lazy.has_errors
    assert lazy.get("futureField") == [1, 2]
    assert dataclasses.asdict(lazy) == dataclasses.asdict(eager)


def test_lazy_model_pickles_copies_and_replaces() -> None:
    _, lazy = _both()
    fresh = models.Room._from_owned_json(dict(ROOM_JSON), "T")  # no field read yet
    assert pickle.loads(pickle.dumps(fresh)) == lazy
    assert copy.deepcopy(fresh) == lazy and copy.copy(fresh) == lazy
    assert dataclasses.replace(fresh, title="New").title == "New"


def test_lazy_model_stays_frozen_and_rejects_unknown_attributes() -> None:
    _, lazy = _both()
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.title = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        lazy.no_such_field  # type: ignore[attr-defined]
    assert not hasattr(lazy, "also_missing")


def test_missing_id_defaults_to_empty_string_on_both_paths() -> None:
    assert models.Room._from_owned_json({}, None).id == ""
    assert models.Room.from_json({}).id == ""
    assert models.Room(title="built by hand").id == ""  # __init__ defaults untouched


def test_from_json_copies_its_input() -> None:
    data = {"id": "R", "title": "before"}
    room = models.Room.from_json(data)
    data["title"] = "after"
    assert room.title == "before" and room.raw["title"] == "before"


@pytest.mark.parametrize("value", ["Y2lz-_.~AZaz09", "a/b", "a?b#c", "é", "a=b", "a b", "%2F"])
def test_seg_quotes_like_quote(value: str) -> None:
    assert seg(value) == quote(value, safe="")


@responses.activate
def test_headers_and_auth_follow_changes_between_requests() -> None:
    responses.get(f"{BASE}/people/me", json={"id": "P"})
    client = WebexClient("token-one")
    client.people.me()
    client.transport.user_agent = "my-agent/2"
    client.transport._token = "token-two"
    client.transport._auth = type(client.transport._auth)("token-two")
    client.people.me()
    first, second = (c.request.headers for c in responses.calls)
    assert first["Authorization"] == "Bearer token-one"
    assert second["Authorization"] == "Bearer token-two"
    assert second["User-Agent"] == "my-agent/2"
    assert first["User-Agent"] != "my-agent/2"


def test_a_base_url_with_credentials_is_never_trusted() -> None:
    client = WebexClient("token", base_url="https://user:pw@webexapis.com/v1")
    with pytest.raises(ValueError, match="Refusing to send"):
        client.people.me()


@responses.activate
def test_reassigned_base_url_is_checked_again() -> None:
    client = WebexClient("token")
    responses.get(f"{BASE}/people/me", json={"id": "P"})
    client.people.me()
    client.transport.base_url = "https://evil.example.com/v1"
    with pytest.raises(ValueError, match="Refusing to send"):
        client.people.me()
    assert len(responses.calls) == 1
