"""Bad input never produces a traceback or a 500: every route, fed garbage, answers a 4xx
with the Webex error body (or succeeds when the garbage happens to be acceptable)."""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams.testing import FakeWebex
from django_webexteams.testing.routes import router

from .conftest import assert_webex_error
from .test_openapi import World, _request

FIELDS = [
    "title",
    "teamId",
    "roomId",
    "personId",
    "personEmail",
    "isModerator",
    "isRoomHidden",
    "text",
    "markdown",
    "files",
    "attachments",
    "parentId",
    "toPersonId",
    "toPersonEmail",
    "name",
    "targetUrl",
    "resource",
    "event",
    "filter",
    "secret",
    "status",
    "ownedBy",
    "emails",
    "displayName",
    "firstName",
    "licenses",
    "roles",
    "type",
    "messageId",
    "inputs",
    "contentUrl",
    "description",
    "isLocked",
    "isAnnouncementOnly",
    "loginEnabled",
]
WRONG_VALUES: list[Any] = [12345, None, [], {"a": 1}, True, "x" * 9000, [1, {"b": None}]]
BODIES: list[dict[str, Any]] = [
    {"data": "{not json", "headers": {"Content-Type": "application/json"}},
    {"json": [1, 2, 3]},
    {"json": "just a string"},
    {"json": {}},
    {"data": b"\xff\xfe\x00garbage", "headers": {"Content-Type": "application/json"}},
    {"data": "--x\r\ngarbage", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
    {"data": "a=%ZZ&&=", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    *({"json": {f: v for f in FIELDS}} for v in WRONG_VALUES),
]
QUERIES: list[dict[str, str]] = [
    {"max": "-1"},
    {"max": "abc"},
    {"max": "1e309"},
    {"before": "yesterday"},
    {"mentionedPeople": "someone-else"},
    {"sortBy": "bogus"},
    {"type": "bogus"},
    {"cursor": "!!!"},
    {"cursor": "e30"},
    {"from": "x", "to": "y"},
    {"roomId": "nope"},
    {"teamId": "nope"},
    {"personId": "nope"},
    {"beforeMessage": "nope"},
    {"id": "a,b"},
    {"callingData": "maybe"},
]

API_ROUTES = [r for r in router.routes if r.spec_path]


@pytest.fixture
def world(fake_webex: FakeWebex) -> World:
    return World(fake_webex)


def _check(fake: FakeWebex, resp: Any) -> None:
    assert resp.status_code != 500, resp.text
    assert resp.status_code < 500
    assert resp.headers["TrackingID"]
    if resp.status_code >= 400:
        assert_webex_error(resp, resp.status_code)
    assert fake.unexpected_errors == []


@pytest.mark.parametrize("route", API_ROUTES, ids=[f"{r.method} {r.pattern}" for r in API_ROUTES])
def test_garbage_never_breaks_a_route(fake_webex: Any, world: Any, route: Any) -> None:
    session = fake_webex.session()
    session.headers["Authorization"] = f"Bearer {world.alice.token}"
    _, path, _ = _request(world, route.method.lower(), route.spec_path)
    url = fake_webex.base_url + path
    if route.method in ("POST", "PUT"):
        for body in BODIES:
            _check(fake_webex, session.request(route.method, url, **body))
    elif route.method == "GET":
        for query in QUERIES:
            _check(fake_webex, session.get(url, params=query))
    for bad_id_path in (path + "x", path.rsplit("/", 1)[0] + "/Y2lzY29zcGFyazovL3VzL1JPT00veA"):
        if "{" in route.pattern:
            resp = session.request(route.method, fake_webex.base_url + bad_id_path, json={})
            _check(fake_webex, resp)
            assert resp.status_code in (400, 403, 404)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/unknown", 404), ("/rooms/a/b/c", 404), ("/", 404), ("/v2/rooms", 404)],
)
def test_unknown_routes_are_404_with_error_body(
    fake_webex: Any, alice: Any, path: Any, status: Any, caplog: Any
) -> None:
    session = fake_webex.session()
    session.headers["Authorization"] = f"Bearer {alice.token}"
    url = fake_webex.url + path if path.startswith("/v2") else fake_webex.base_url + path
    with caplog.at_level("WARNING", logger="django_webexteams.testing"):
        resp = session.get(url)
    body = assert_webex_error(resp, status)
    assert body["message"] == "The requested resource could not be found."
    assert "no route" in caplog.text  # loud


def test_missing_required_field_names_the_field(fake_webex: Any, alice: Any, api: Any) -> None:
    body = assert_webex_error(api(alice).post("/webhooks", json={"name": "n"}), 400)
    assert "targetUrl" in body["message"]
    body = assert_webex_error(api(alice).post("/rooms", json={}), 400)
    assert "title" in body["message"]
    body = assert_webex_error(api(alice).get("/messages"), 400)
    assert "roomId" in body["message"]


def test_wrong_method_is_405(fake_webex: Any, alice: Any, api: Any) -> None:
    assert_webex_error(api(alice)("PATCH", "/messages"), 405)


def test_bug_in_fake_is_500_with_error_body_and_recorded(
    fake_webex: Any, alice: Any, api: Any, monkeypatch: Any
) -> None:
    from django_webexteams.testing.routes import people

    route = next(r for r in router.routes if r.pattern == "/people/me")

    def broken(ctx: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(route, "handler", broken)
    resp = api(alice).get("/people/me")
    assert_webex_error(resp, 500)
    assert "boom" not in resp.text
    assert len(fake_webex.unexpected_errors) == 1
    fake_webex.unexpected_errors.clear()
    assert callable(people.me)  # the real handler still exists
