"""Wrong argument combinations raise ValueError before any request is made."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses

from django_webexteams.client import WebexClient

LONG_ASCII = "x" * 7440
# 2480 three-byte characters: only 2480 characters, but 7440 bytes in UTF-8
LONG_UTF8 = "€" * 2480
EXACT_LIMIT = "x" * 7439

CASES: dict[str, Callable[[WebexClient], Any]] = {
    "no target": lambda c: c.messages.create(text="hi"),
    "room and person": lambda c: c.messages.create(room_id="R", to_person_id="P", text="hi"),
    "room and email": lambda c: c.messages.create(room_id="R", to_person_email="a@x", text="hi"),
    "three targets": lambda c: c.messages.create(
        room_id="R", to_person_id="P", to_person_email="a@x", text="hi"
    ),
    "nothing to send": lambda c: c.messages.create(room_id="R"),
    "text too long": lambda c: c.messages.create(room_id="R", text=LONG_ASCII),
    "text too long in bytes": lambda c: c.messages.create(room_id="R", text=LONG_UTF8),
    "markdown too long": lambda c: c.messages.create(room_id="R", markdown=LONG_UTF8),
    "two files": lambda c: c.messages.create(
        room_id="R", files=["https://e.com/a.png", "https://e.com/b.png"]
    ),
    "two local files": lambda c: c.messages.create(room_id="R", files=[b"a", b"b"]),
    "two cards": lambda c: c.messages.create(room_id="R", attachments=[{}, {}]),
    "edit without text": lambda c: c.messages.edit("M", "R"),
    "edit too long": lambda c: c.messages.edit("M", "R", markdown=LONG_UTF8),
    "edit without room": lambda c: c.messages.edit("M", "", text="x"),
    "list without room": lambda c: c.messages.list(""),
    "direct both": lambda c: c.messages.list_direct(person_id="P", person_email="a@x"),
    "direct none": lambda c: c.messages.list_direct(),
    "membership both": lambda c: c.memberships.create("R", person_id="P", person_email="a@x"),
    "membership none": lambda c: c.memberships.create("R"),
    "team membership none": lambda c: c.team_memberships.create("T"),
    "empty id": lambda c: c.rooms.get(""),
    "licenses no person": lambda c: c.licenses.assign_to_user(licenses=[]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_before_any_request(
    name: str, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(ValueError) as info:
        CASES[name](client)
    assert str(info.value)  # a message that says what is wrong
    assert len(rsps.calls) == 0


def test_limit_is_inclusive(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.post("https://webexapis.com/v1/messages", json={"id": "M"})
    client.messages.create(room_id="R", text=EXACT_LIMIT, markdown="€" * 2479)
    assert len(rsps.calls) == 1


def test_ids_cannot_change_the_endpoint(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.get("https://webexapis.com/v1/rooms/..%2Fpeople%2Fme%3Fx%3D1", json={"id": "R"})
    client.rooms.get("../people/me?x=1")
    assert rsps.calls[0].request.path_url == "/v1/rooms/..%2Fpeople%2Fme%3Fx%3D1"


def test_client_rejects_bad_construction() -> None:
    with pytest.raises(ValueError):
        WebexClient("")
    with pytest.raises(ValueError):
        WebexClient("t", base_url="ftp://webexapis.com/v1")


@pytest.mark.parametrize("token", ["SECRETX\n", "SECRETX en", " SECRETX", "SECRETXö", "", None, 42])
def test_tokens_that_would_break_the_header_are_refused_without_echo(token: Any) -> None:
    with pytest.raises(ValueError) as info:
        WebexClient(token)
    if isinstance(token, str) and token.strip():
        assert token.strip() not in str(info.value)


def test_refreshed_token_is_checked_too(rsps: responses.RequestsMock) -> None:
    client = WebexClient("good", on_unauthorized=lambda: "bad token\n")
    rsps.get("https://webexapis.com/v1/people/me", status=401)
    with pytest.raises(ValueError):
        client.people.me()


def test_empty_strings_count_as_absent(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.post("https://webexapis.com/v1/messages", json={"id": "M"})
    client.messages.create(room_id="", to_person_email="a@example.com", text="hi", parent_id="")
    assert json.loads(rsps.calls[0].request.body or b"") == {
        "toPersonEmail": "a@example.com",
        "text": "hi",
    }
    with pytest.raises(ValueError):
        client.messages.create(room_id="", to_person_id="", text="hi")
