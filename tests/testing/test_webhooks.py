"""Webhook deliveries from the fake to a local receiver: envelope, signature, filters,
disable-after-failures and reactivation."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from django_webexteams.testing import sign

from .conftest import assert_webex_error


class Receiver:
    """A local HTTP server that records what it receives and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_signature_test_vector() -> None:
    assert sign("myBongoSecret", b'{"a":1,"b":2,"c":{"d":3}}') == (
        "01e0cb6a53731b9615b483335d77d97023410c72"
    )


def test_signed_message_delivery_has_real_envelope(
    fake_webex: Any, alice: Any, bot: Any, receiver: Any, api: Any
) -> None:
    room = fake_webex.create_room(alice, "Hooks", members=[bot])
    hook = (
        api(bot)
        .post(
            "/webhooks",
            json={
                "name": "bot hook",
                "targetUrl": receiver.url,
                "resource": "messages",
                "event": "created",
                "secret": "s3cret",
            },
        )
        .json()
    )
    msg = fake_webex.post_message(alice, room.id, text="secret text", mentions=[bot])
    (delivery,) = fake_webex.wait_for_deliveries(1)
    assert delivery.ok
    headers, body = receiver.received[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert headers["X-Spark-Signature"] == expected
    payload = json.loads(body)
    assert {
        "id",
        "name",
        "resource",
        "event",
        "orgId",
        "createdBy",
        "appId",
        "ownedBy",
        "status",
        "actorId",
        "created",
        "data",
        "targetUrl",
    } <= set(payload)
    assert payload["id"] == hook["id"] and payload["actorId"] == alice.id
    assert (payload["resource"], payload["event"]) == ("messages", "created")
    assert payload["data"]["id"] == msg.id and payload["data"]["roomId"] == room.id
    # Message text is never in the envelope: it must be fetched.
    assert "text" not in payload["data"] and b"secret text" not in body


def test_bot_hears_only_mentions_in_group_rooms(
    fake_webex: Any, alice: Any, bot: Any, receiver: Any
) -> None:
    room = fake_webex.create_room(alice, "Group", members=[bot])
    fake_webex.create_webhook(bot, "b", receiver.url, "messages", "created")
    fake_webex.post_message(alice, room.id, text="chatter")
    fake_webex.post_message(alice, room.id, text="hey", mentions=[bot])
    fake_webex.wait_for_idle()
    assert len(fake_webex.deliveries) == 1


def test_filters_and_all(fake_webex: Any, alice: Any, bob: Any, receiver: Any) -> None:
    room1 = fake_webex.create_room(alice, "One", members=[bob])
    room2 = fake_webex.create_room(alice, "Two")
    fake_webex.create_webhook(
        alice, "filtered", receiver.url, "messages", "all", filter=f"roomId={room1.id}"
    )
    fake_webex.create_webhook(alice, "everything", receiver.url, "all", "all")
    fake_webex.post_message(alice, room2.id, text="two")
    fake_webex.post_message(bob, room1.id, text="one")
    fake_webex.wait_for_idle()
    got = sorted((d.payload["name"], d.payload["data"]["roomId"]) for d in fake_webex.deliveries)
    assert got == sorted(
        [("everything", room2.id), ("filtered", room1.id), ("everything", room1.id)]
    )


def test_membership_room_and_card_events(
    fake_webex: Any, alice: Any, bob: Any, receiver: Any
) -> None:
    fake_webex.create_webhook(alice, "all", receiver.url, "all", "all")
    room = fake_webex.create_room(alice, "Cards", members=[bob])
    card = fake_webex.post_message(
        alice,
        room.id,
        text="fill me",
        attachments=[
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.2", "body": []},
            }
        ],
    )
    action = fake_webex.submit_card(bob, card.id, {"name": "Bob"})
    fake_webex.wait_for_idle()
    kinds = [(d.resource, d.event) for d in fake_webex.deliveries]
    assert kinds == [
        ("rooms", "created"),
        ("memberships", "created"),
        ("memberships", "created"),
        ("messages", "created"),
        ("attachmentActions", "created"),
    ]
    last = fake_webex.deliveries[-1].payload["data"]
    assert last["id"] == action.id and "inputs" not in last


def test_disabled_after_failures_and_reactivated(
    fake_webex: Any, alice: Any, receiver: Any, api: Any
) -> None:
    fake_webex.webhook_failure_limit = 3
    receiver.status = 500
    hook = fake_webex.create_webhook(alice, "flaky", receiver.url, "messages", "created")
    room = fake_webex.create_room(alice, "F")
    for i in range(3):
        fake_webex.post_message(alice, room.id, text=str(i))
    fake_webex.wait_for_deliveries(3)
    fake_webex.wait_for_idle()
    assert api(alice).get(f"/webhooks/{hook.id}").json()["status"] == "inactive"
    fake_webex.post_message(alice, room.id, text="dropped")
    fake_webex.wait_for_idle()
    assert len(fake_webex.deliveries) == 3  # inactive: nothing sent
    receiver.status = 200
    updated = api(alice).put(
        f"/webhooks/{hook.id}",
        json={"name": "flaky", "targetUrl": receiver.url, "status": "active"},
    )
    assert updated.json()["status"] == "active"
    fake_webex.post_message(alice, room.id, text="back")
    deliveries = fake_webex.wait_for_deliveries(4)
    assert deliveries[-1].ok


def test_failures_outside_window_do_not_disable(fake_webex: Any, alice: Any) -> None:
    fake_webex.webhook_failure_limit = 2
    fake_webex.webhook_failure_window = 60
    hook = fake_webex.create_webhook(alice, "down", "http://127.0.0.1:9/", "messages", "created")
    room = fake_webex.create_room(alice, "W")
    fake_webex.post_message(alice, room.id, text="1")
    fake_webex.wait_for_deliveries(1)
    fake_webex.clock.advance(120)
    fake_webex.post_message(alice, room.id, text="2")
    fake_webex.wait_for_deliveries(2)
    fake_webex.wait_for_idle()
    assert fake_webex.webhook_status(hook.id) == "active"
    assert not fake_webex.deliveries[0].ok and fake_webex.deliveries[0].error


def test_webhook_validation(fake_webex: Any, alice: Any, api: Any) -> None:
    assert_webex_error(api(alice).post("/webhooks", json={"name": "x"}), 400)
    bad = api(alice).post(
        "/webhooks",
        json={
            "name": "x",
            "targetUrl": "http://127.0.0.1/",
            "resource": "nope",
            "event": "created",
        },
    )
    assert_webex_error(bad, 400)


def test_webhooks_are_private_to_their_creator(
    fake_webex: Any, alice: Any, bob: Any, receiver: Any, api: Any
) -> None:
    hook = fake_webex.create_webhook(alice, "mine", receiver.url)
    assert_webex_error(api(bob).get(f"/webhooks/{hook.id}"), 404)
    assert api(bob).get("/webhooks").json()["items"] == []
