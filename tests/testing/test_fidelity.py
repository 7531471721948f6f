"""Where the fake follows Webex more closely: ``includeAssignedTo`` on a license, webhook
filters applied per resource, and self-mentions under ``mentionedPeople=me``."""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams.client import RetryPolicy, WebexClient
from django_webexteams.client.pagination import next_link
from django_webexteams.testing import FakeWebex

from .conftest import Api, assert_webex_error

DEAD = "http://127.0.0.1:9/hook"  # deliveries are recorded even when refused


# --- GET /licenses/{id}?includeAssignedTo=user -------------------------------------------------


def test_include_assigned_to_lists_the_holders(fake_webex: FakeWebex) -> None:
    admin = fake_webex.add_admin("admin@example.com", "Ada Admin")
    users = [fake_webex.add_person(f"u{i}@example.com") for i in range(3)]
    other_org = fake_webex.add_organization("Elsewhere")
    fake_webex.add_person("far@example.com", org=other_org)  # holds its own org's license
    api = Api(fake_webex.base_url, admin.token)
    lic = fake_webex.license_id("Messaging")
    plain = api.get(f"/licenses/{lic}").json()
    assert "users" not in plain  # only when asked for
    body = api.get(f"/licenses/{lic}", params={"includeAssignedTo": "user"}).json()
    assert {u["email"] for u in body["users"]} == {admin.email} | {u.email for u in users}
    assert {u["type"] for u in body["users"]} == {"INTERNAL"}
    assert body["consumedUnits"] == len(body["users"]) == 4
    ada = next(u for u in body["users"] if u["id"] == admin.id)
    assert ada == {"id": admin.id, "type": "INTERNAL", "displayName": "Ada Admin",
                   "email": "admin@example.com"}  # fmt: skip
    # next/limit without includeAssignedTo are ignored ("applicable only if populated").
    assert "users" not in api.get(f"/licenses/{lic}", params={"limit": 1}).json()


def test_include_assigned_to_pages_with_limit_and_next(fake_webex: FakeWebex) -> None:
    admin = fake_webex.add_admin("admin@example.com")
    for i in range(4):
        fake_webex.add_person(f"u{i}@example.com")
    api = Api(fake_webex.base_url, admin.token)
    lic = fake_webex.license_id("Messaging")
    url: str | None = f"{fake_webex.base_url}/licenses/{lic}?includeAssignedTo=user&limit=2"
    seen: list[str] = []
    pages = 0
    while url:
        resp = api.get(url)
        assert resp.status_code == 200
        users = resp.json()["users"]
        assert 1 <= len(users) <= 2
        seen += [u["id"] for u in users]
        url = next_link(resp.headers.get("Link"))
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"includeAssignedTo": "workspace"},
        {"includeAssignedTo": "user", "limit": 301},
        {"includeAssignedTo": "user", "limit": 0},
        {"includeAssignedTo": "user", "next": "garbage"},
    ],
)
def test_include_assigned_to_refuses_bad_values(
    fake_webex: FakeWebex, params: dict[str, Any]
) -> None:
    admin = fake_webex.add_admin("admin@example.com")
    api = Api(fake_webex.base_url, admin.token)
    resp = api.get(f"/licenses/{fake_webex.license_id('Messaging')}", params=params)
    assert_webex_error(resp, 400)


def test_the_client_reads_the_holders(fake_webex: FakeWebex) -> None:
    admin = fake_webex.add_admin("admin@example.com")
    with WebexClient(admin.token, base_url=fake_webex.base_url, retry=RetryPolicy()) as client:
        lic = client.licenses.get(fake_webex.license_id("Messaging"), include_assigned_to="user")
    assert lic.users == [
        {"id": admin.id, "type": "INTERNAL", "displayName": "Admin", "email": admin.email}
    ]


# --- webhook filters, per resource -------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "filter"),
    [
        ("messages", "isLocked=true"),
        ("rooms", "roomId=abc"),
        ("memberships", "hasFiles=true"),
        ("attachmentActions", "roomType=group"),
        ("all", "madeUp=1"),
        ("messages", "roomId=a&nope=b"),
    ],
)
def test_a_filter_the_resource_does_not_support_is_refused(
    fake_webex: FakeWebex, resource: str, filter: str
) -> None:
    alice = fake_webex.add_person("alice@example.com")
    resp = Api(fake_webex.base_url, alice.token).post(
        "/webhooks",
        json={
            "name": "h",
            "targetUrl": DEAD,
            "resource": resource,
            "event": "all",
            "filter": filter,
        },
    )
    body = assert_webex_error(resp, 400)
    assert "filter" in body["message"]


@pytest.mark.parametrize(
    ("resource", "filter"),
    [
        ("messages", "roomType=group&hasFiles=false"),
        ("messages", "mentionedPeople=me"),
        ("rooms", "type=group&isLocked=false"),
        ("memberships", "isModerator=true"),
        ("attachmentActions", "messageId=x"),
        ("all", "roomId=x"),
    ],
)
def test_a_filter_the_resource_supports_is_accepted(
    fake_webex: FakeWebex, resource: str, filter: str
) -> None:
    alice = fake_webex.add_person("alice@example.com")
    hook = fake_webex.create_webhook(alice, "h", DEAD, resource, "all", filter=filter)
    assert hook.filter == filter


def _names(fake: FakeWebex) -> list[tuple[str, str]]:
    fake.wait_for_idle()
    return [(d.payload["name"], d.payload["resource"]) for d in fake.deliveries]


def test_rooms_filter_by_type_and_lock(fake_webex: FakeWebex) -> None:
    alice = fake_webex.add_person("alice@example.com")
    bob = fake_webex.add_person("bob@example.com")
    fake_webex.create_webhook(alice, "group", DEAD, "rooms", "created", filter="type=group")
    fake_webex.create_webhook(alice, "locked", DEAD, "rooms", "all", filter="isLocked=true")
    fake_webex.create_room(alice, "Group")
    fake_webex.post_message(alice, to_person=bob, text="creates a direct room")
    assert _names(fake_webex) == [("group", "rooms")]  # not the direct room, not unlocked


def test_memberships_filter_by_moderator(fake_webex: FakeWebex) -> None:
    alice = fake_webex.add_person("alice@example.com")
    bob = fake_webex.add_person("bob@example.com")
    carol = fake_webex.add_person("carol@example.com")
    room = fake_webex.create_room(alice, "R")
    fake_webex.create_webhook(
        alice, "mods", DEAD, "memberships", "created", filter="isModerator=true"
    )
    fake_webex.add_member(alice, room.id, bob)
    fake_webex.add_member(alice, room.id, carol, moderator=True)
    fake_webex.wait_for_idle()
    got = [(d.payload["name"], d.payload["data"]["personId"]) for d in fake_webex.deliveries]
    assert got == [("mods", carol.id)]


def test_attachment_actions_filter_by_message(fake_webex: FakeWebex) -> None:
    alice = fake_webex.add_person("alice@example.com")
    bob = fake_webex.add_person("bob@example.com")
    room = fake_webex.create_room(alice, "Cards", members=[bob])
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"body": []}}
    first = fake_webex.post_message(alice, room.id, text="1", attachments=[card])
    second = fake_webex.post_message(alice, room.id, text="2", attachments=[card])
    fake_webex.create_webhook(
        alice, "first", DEAD, "attachmentActions", "created", filter=f"messageId={first.id}"
    )
    fake_webex.submit_card(bob, second.id, {"x": "2"})
    fake_webex.submit_card(bob, first.id, {"x": "1"})
    fake_webex.wait_for_idle()
    got = [(d.payload["name"], d.payload["data"]["messageId"]) for d in fake_webex.deliveries]
    assert got == [("first", first.id)]


def test_a_firehose_filter_applies_only_where_the_resource_supports_it(
    fake_webex: FakeWebex,
) -> None:
    alice = fake_webex.add_person("alice@example.com")
    bob = fake_webex.add_person("bob@example.com")
    fake_webex.create_webhook(alice, "groups", DEAD, "all", "all", filter="roomType=group")
    room = fake_webex.create_room(alice, "Group")
    fake_webex.add_member(alice, room.id, bob)
    fake_webex.post_message(alice, room.id, text="here")
    fake_webex.post_message(alice, to_person=bob, text="direct")
    # roomType filters messages only: the group's rooms/created and memberships/created
    # (whose data carries a roomType too) are not delivered; the direct message is filtered
    # out; the group message is delivered.
    assert _names(fake_webex) == [("groups", "messages")]
    assert fake_webex.deliveries[0].payload["data"]["roomId"] == room.id


def test_a_card_filtered_by_a_key_of_another_resource_is_not_delivered(
    fake_webex: FakeWebex,
) -> None:
    # An attachment action's data has "type": "submit", but type is a rooms filter.
    alice = fake_webex.add_person("alice@example.com")
    room = fake_webex.create_room(alice, "Cards")
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"body": []}}
    msg = fake_webex.post_message(alice, room.id, text="1", attachments=[card])
    fake_webex.create_webhook(alice, "typed", DEAD, "all", "created", filter="type=submit")
    fake_webex.submit_card(alice, msg.id, {"x": "1"})
    assert _names(fake_webex) == []


# --- mentionedPeople=me --------------------------------------------------------------------------


def test_a_self_mention_is_not_listed_under_mentioned_people_me(fake_webex: FakeWebex) -> None:
    alice = fake_webex.add_person("alice@example.com")
    bot = fake_webex.add_bot("Bot")
    room = fake_webex.create_room(alice, "R", members=[bot])
    by_alice = fake_webex.post_message(alice, room.id, text="hi", mentions=[bot])
    by_bot = fake_webex.post_message(bot, room.id, text="note to self", mentions=[bot])
    assert bot.id in by_bot.mentionedPeople  # the mention itself is kept on the message
    resp = Api(fake_webex.base_url, bot.token).get(
        "/messages", params={"roomId": room.id, "mentionedPeople": "me"}
    )
    assert [m["id"] for m in resp.json()["items"]] == [by_alice.id]
    # Listed without the filter, and to the others.
    all_ids = [m["id"] for m in fake_webex.messages_in(room.id)]
    assert all_ids == [by_bot.id, by_alice.id]
    seen = Api(fake_webex.base_url, alice.token).get("/messages", params={"roomId": room.id})
    assert [m["id"] for m in seen.json()["items"]] == [by_bot.id, by_alice.id]
