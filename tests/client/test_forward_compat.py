"""Forward compatibility: every client method sends query parameters (``extra_params=``) and
body fields (``extra_body=``) it does not name yet, merged after the named ones; and fields of
an answer the client does not know are kept in ``.raw``.

The parameters are checked where they matter: in the fake Webex's request log, i.e. on the
wire, for every public method of every resource (a method added without the extras fails
``test_the_table_covers_every_method``)."""

from __future__ import annotations

import inspect
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
import responses

from django_webexteams.client import ApiError, RetryPolicy, WebexClient
from django_webexteams.client.pagination import PaginatedList
from django_webexteams.client.resources._base import Resource

testing = pytest.importorskip("django_webexteams.testing")

ID = "Y2lzY29zcGFyazovL3VzL1JPT00vZnV0dXJl"  # any well-formed id: 404 is fine here
URL = "https://example.com/tab"
EXTRA_PARAMS = {"futureParam": "yes", "futureFlag": True}
EXTRA_BODY = {"futureField": {"nested": [1, "two"]}}


class Call(NamedTuple):
    name: str  # "rooms.list"
    call: Callable[..., Any]  # (client, extra kwargs) -> result
    sends_body: bool


def _c(name: str, sends_body: bool, call: Callable[..., Any]) -> Call:
    return Call(name, call, sends_body)


CALLS = [
    _c("rooms.list", False, lambda c, **x: c.rooms.list(type="group", **x)),
    _c("rooms.create", True, lambda c, **x: c.rooms.create("T", **x)),
    _c("rooms.get", False, lambda c, **x: c.rooms.get(ID, **x)),
    _c("rooms.update", True, lambda c, **x: c.rooms.update(ID, title="T", **x)),
    _c("rooms.delete", False, lambda c, **x: c.rooms.delete(ID, **x)),
    _c("messages.create", True, lambda c, **x: c.messages.create(room_id=ID, text="hi", **x)),
    _c("messages.list", False, lambda c, **x: c.messages.list(ID, **x)),
    _c("messages.list_direct", False, lambda c, **x: c.messages.list_direct(person_id=ID, **x)),
    _c("messages.get", False, lambda c, **x: c.messages.get(ID, **x)),
    _c("messages.edit", True, lambda c, **x: c.messages.edit(ID, ID, text="x", **x)),
    _c("messages.delete", False, lambda c, **x: c.messages.delete(ID, **x)),
    _c("memberships.list", False, lambda c, **x: c.memberships.list(room_id=ID, **x)),
    _c("memberships.create", True, lambda c, **x: c.memberships.create(ID, person_id=ID, **x)),
    _c("memberships.get", False, lambda c, **x: c.memberships.get(ID, **x)),
    _c("memberships.update", True, lambda c, **x: c.memberships.update(ID, is_moderator=True, **x)),
    _c("memberships.delete", False, lambda c, **x: c.memberships.delete(ID, **x)),
    _c("people.me", False, lambda c, **x: c.people.me(**x)),
    _c("people.get", False, lambda c, **x: c.people.get(ID, **x)),
    _c("people.list", False, lambda c, **x: c.people.list(email="a@example.com", **x)),
    _c("people.create", True, lambda c, **x: c.people.create(["n@example.com"], **x)),
    _c("people.update", True, lambda c, **x: c.people.update(ID, display_name="N", **x)),
    _c("people.delete", False, lambda c, **x: c.people.delete(ID, **x)),
    _c("teams.list", False, lambda c, **x: c.teams.list(**x)),
    _c("teams.create", True, lambda c, **x: c.teams.create("T", **x)),
    _c("teams.get", False, lambda c, **x: c.teams.get(ID, **x)),
    _c("teams.update", True, lambda c, **x: c.teams.update(ID, name="T", **x)),
    _c("teams.delete", False, lambda c, **x: c.teams.delete(ID, **x)),
    _c("team_memberships.list", False, lambda c, **x: c.team_memberships.list(ID, **x)),
    _c(
        "team_memberships.create",
        True,
        lambda c, **x: c.team_memberships.create(ID, person_id=ID, **x),
    ),
    _c("team_memberships.get", False, lambda c, **x: c.team_memberships.get(ID, **x)),
    _c(
        "team_memberships.update",
        True,
        lambda c, **x: c.team_memberships.update(ID, is_moderator=True, **x),
    ),
    _c("team_memberships.delete", False, lambda c, **x: c.team_memberships.delete(ID, **x)),
    _c("webhooks.list", False, lambda c, **x: c.webhooks.list(**x)),
    _c(
        "webhooks.create",
        True,
        lambda c, **x: c.webhooks.create("n", URL, "messages", "created", **x),
    ),
    _c("webhooks.get", False, lambda c, **x: c.webhooks.get(ID, **x)),
    _c("webhooks.update", True, lambda c, **x: c.webhooks.update(ID, "n", URL, **x)),
    _c("webhooks.delete", False, lambda c, **x: c.webhooks.delete(ID, **x)),
    _c("attachment_actions.get", False, lambda c, **x: c.attachment_actions.get(ID, **x)),
    _c(
        "attachment_actions.create",
        True,
        lambda c, **x: c.attachment_actions.create(message_id=ID, inputs={"a": 1}, **x),
    ),
    _c("room_tabs.list", False, lambda c, **x: c.room_tabs.list(ID, **x)),
    _c("room_tabs.create", True, lambda c, **x: c.room_tabs.create(ID, URL, "Tab", **x)),
    _c("room_tabs.get", False, lambda c, **x: c.room_tabs.get(ID, **x)),
    _c(
        "room_tabs.update",
        True,
        lambda c, **x: c.room_tabs.update(ID, room_id=ID, content_url=URL, display_name="T", **x),
    ),
    _c("room_tabs.delete", False, lambda c, **x: c.room_tabs.delete(ID, **x)),
    _c("events.list", False, lambda c, **x: c.events.list(**x)),
    _c("events.get", False, lambda c, **x: c.events.get(ID, **x)),
    _c("organizations.list", False, lambda c, **x: c.organizations.list(**x)),
    _c("organizations.get", False, lambda c, **x: c.organizations.get(ID, **x)),
    _c("organizations.delete", False, lambda c, **x: c.organizations.delete(ID, **x)),
    _c("licenses.list", False, lambda c, **x: c.licenses.list(**x)),
    _c("licenses.get", False, lambda c, **x: c.licenses.get(ID, **x)),
    _c(
        "licenses.assign_to_user",
        True,
        lambda c, **x: c.licenses.assign_to_user(
            licenses=[{"id": ID, "operation": "add"}], email="a@example.com", **x
        ),
    ),
    _c("roles.list", False, lambda c, **x: c.roles.list(**x)),
    _c("roles.get", False, lambda c, **x: c.roles.get(ID, **x)),
    _c("contents.info", False, lambda c, **x: c.contents.info(ID, **x)),
    _c("contents.download", False, lambda c, **x: c.contents.download(ID, io.BytesIO(), **x)),
]

#: Methods that call no endpoint of their own and so take no extras.
NO_REQUEST: set[str] = set()


def _public_methods() -> set[str]:
    client = WebexClient("t", base_url="https://webexapis.com/v1")
    names = set()
    for attr, resource in vars(client).items():
        if not isinstance(resource, Resource):
            continue
        for name, member in inspect.getmembers(type(resource), inspect.isfunction):
            if not name.startswith("_"):
                names.add(f"{attr}.{name}")
    client.close()
    return names


def test_the_table_covers_every_method() -> None:
    names = _public_methods()
    assert len(names) >= 55  # not vacuous
    assert {c.name for c in CALLS} == names - NO_REQUEST


@pytest.mark.parametrize("entry", CALLS, ids=[c.name for c in CALLS])
def test_extras_are_typed_keyword_only_arguments(entry: Call) -> None:
    resource, method = entry.name.split(".")
    func = getattr(type(getattr(WebexClient("t"), resource)), method)
    sig = inspect.signature(func)
    params = sig.parameters
    assert params["extra_params"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["extra_params"].default is None
    assert "ExtraParams" in str(params["extra_params"].annotation)
    if entry.sends_body:
        assert params["extra_body"].kind is inspect.Parameter.KEYWORD_ONLY
        assert "ExtraBody" in str(params["extra_body"].annotation)
    else:
        assert "extra_body" not in params  # nothing to merge it into


@pytest.fixture(scope="module")
def fake() -> Iterator[Any]:
    with testing.FakeWebex() as server:
        yield server


@pytest.fixture(scope="module")
def admin_client(fake: Any) -> Iterator[WebexClient]:
    admin = fake.add_admin("forward@example.com")
    with WebexClient(
        admin.token, base_url=fake.base_url, retry=RetryPolicy(max_retries=0)
    ) as client:
        yield client


def _run(client: WebexClient, entry: Call, **extras: Any) -> Any:
    try:
        result = entry.call(client, **extras)
        if isinstance(result, PaginatedList):
            result = result.first_page()
        return result
    except ApiError:
        return None  # a 404 for a made-up id still shows what was sent


@pytest.mark.parametrize("entry", CALLS, ids=[c.name for c in CALLS])
def test_extras_reach_the_server(fake: Any, admin_client: WebexClient, entry: Call) -> None:
    extras: dict[str, Any] = {"extra_params": EXTRA_PARAMS}
    if entry.sends_body:
        extras["extra_body"] = EXTRA_BODY
    before = len(fake.requests)
    _run(admin_client, entry, **extras)
    sent = fake.requests[before:]
    assert len(sent) == 1, [r.path for r in sent]
    request = sent[0]
    assert request.query["futureParam"] == ["yes"]
    assert request.query["futureFlag"] == ["true"]  # typed like the named ones
    if entry.sends_body:
        data = json.loads(request.body)
        assert data["futureField"] == {"nested": [1, "two"]}


@pytest.mark.parametrize("entry", CALLS, ids=[c.name for c in CALLS])
def test_without_extras_nothing_more_is_sent(
    fake: Any, admin_client: WebexClient, entry: Call
) -> None:
    # The check above can fail: without extras, the made-up names are not on the wire.
    before = len(fake.requests)
    _run(admin_client, entry)
    (request,) = fake.requests[before:]
    assert "futureParam" not in request.query
    if entry.sends_body:
        assert "futureField" not in json.loads(request.body)


def test_an_extra_replaces_a_named_value_and_none_drops_it(
    fake: Any, admin_client: WebexClient
) -> None:
    before = len(fake.requests)
    admin_client.rooms.list(type="group", max=5, extra_params={"max": 2, "type": None}).first()
    (request,) = fake.requests[before:]
    assert request.query["max"] == ["2"] and "type" not in request.query
    before = len(fake.requests)
    room = admin_client.rooms.create(
        "Named", extra_body={"title": "Extra wins", "description": None}
    )
    (request,) = fake.requests[before:]
    assert json.loads(request.body) == {"title": "Extra wins", "description": None}
    assert room.title == "Extra wins"


def test_extra_params_survive_pagination(fake: Any, admin_client: WebexClient) -> None:
    for i in range(3):
        admin_client.rooms.create(f"Paged {i}")
    before = len(fake.requests)
    pages = list(admin_client.rooms.list(max=1, extra_params={"futureParam": "kept"}).pages())
    sent = fake.requests[before:]
    assert len(pages) == len(sent) >= 3
    assert all(r.query.get("futureParam") == ["kept"] for r in sent)


def test_extra_body_goes_into_a_local_upload_as_form_fields(
    fake: Any, admin_client: WebexClient
) -> None:
    room = admin_client.rooms.create("Uploads")
    before = len(fake.requests)
    admin_client.messages.create(
        room_id=room.id,
        text="file",
        files=[("a.txt", b"data", "text/plain")],
        extra_params={"futureParam": "up"},
        extra_body={"futureField": "form"},
    )
    (request,) = fake.requests[before:]
    assert request.query["futureParam"] == ["up"]
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="futureField"\r\n\r\nform\r\n' in request.body


@pytest.mark.parametrize("bad", [["partial"], "partial=1"])
def test_extras_must_be_mappings(admin_client: WebexClient, bad: Any) -> None:
    with pytest.raises(TypeError, match="extra_params must be a mapping"):
        admin_client.rooms.get(ID, extra_params=bad)
    with pytest.raises(TypeError, match="extra_body must be a mapping"):
        admin_client.rooms.create("T", extra_body=bad)


def test_the_issues_example(fake: Any, admin_client: WebexClient) -> None:
    # rooms.list(partial="1") was a TypeError; a parameter Webex adds is one argument away.
    with pytest.raises(TypeError):
        admin_client.rooms.list(partial="1")  # type: ignore[call-arg]
    before = len(fake.requests)
    list(admin_client.rooms.list(extra_params={"partial": "1"}))
    assert fake.requests[before].query["partial"] == ["1"]


# --- unknown response fields are kept in .raw ------------------------------------------------

_RAW_CALLS = [c for c in CALLS if not c.name.endswith((".delete", "contents.info", "download"))]


@pytest.mark.parametrize("entry", _RAW_CALLS, ids=[c.name for c in _RAW_CALLS])
def test_unknown_response_fields_are_kept_in_raw(entry: Call) -> None:
    item = {"id": ID, "brandNewField": {"x": [1]}, "created": "2026-01-01T00:00:00.000Z"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "PATCH"):
            mock.add(
                method,
                re.compile(r"https://webexapis\.com/v1/.*"),
                json={"items": [item], "brandNewTopLevel": 1, **item},
            )
        with WebexClient("t", retry=RetryPolicy(max_retries=0)) as client:
            result = entry.call(client)
            if isinstance(result, PaginatedList):
                page = result.first_page()
                assert page.extra["brandNewTopLevel"] == 1
                (result,) = page.items
            assert result.raw["brandNewField"] == {"x": [1]}
            assert len(mock.calls) == 1
