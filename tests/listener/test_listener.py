"""The websocket listener against the fake Webex on loopback: the story's events arrive as
signals, nothing is lost or duplicated across socket deaths, devices are reused, both
transports dispatch once, a stop finishes the event in hand, bad frames are skipped."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from django_webexteams import signals
from django_webexteams.client import sign_body
from django_webexteams.models import Webhook, WebhookDelivery
from tests.listener.conftest import World, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _rows(data_id: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(data_id=data_id))


def test_messages_files_and_cards_arrive_as_signals(world: World) -> None:
    listener = world.start()
    hello = world.post("hello bot")
    wait_until(lambda: hello.id in world.ids(), what="the message signal")
    event = next(e for e in world.received if e.data_id == hello.id)
    assert event.transport == "websocket" and event.webhook is None
    assert event.actor_id == world.alice.id
    assert event.room_id == world.room.id
    assert "hello bot" in event.fetch().text  # as the bot, over REST
    row = wait_until(
        lambda: WebhookDelivery.objects.filter(data_id=hello.id, status="processed").first(),
        what="the outcome",
    )
    assert (row.transport, row.webhook_id, row.credential_id) == ("websocket", None, None)
    assert len(_rows(hello.id)) == 1

    # A file: dispatched once its scan is safe (share, then update), not before.
    shared = world.post("a report", file=("r.csv", b"a,b\n", "text/csv"))
    wait_until(lambda: shared.id in world.ids(), what="the file message")
    assert world.ids().count(shared.id) == 1

    # A card: the bot posts it, Alice submits, the submission arrives (inputs fetched).
    card = world.fake.post_message(
        world.bot,
        world.room.id,
        text="card",
        attachments=[{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
            "type": "AdaptiveCard", "version": "1.3", "body": [],
            "actions": [{"type": "Action.Submit", "title": "Go"}]}}],
    )  # fmt: skip
    action = world.fake.submit_card(world.alice, card.id, {"rating": "5"})
    wait_until(lambda: action.id in world.ids("attachmentActions"), what="the card submission")
    submitted = next(e for e in world.received if e.data_id == action.id)
    assert "inputs" not in submitted.data  # ids only, like the webhook envelope
    assert submitted.fetch().inputs == {"rating": "5"}

    # A new member, and the bot's own post (skipped before any REST call: never stored).
    carol = world.fake.add_person("carol@example.com", "Carol")
    joined = world.fake.add_member(world.alice, world.room.id, carol)
    wait_until(lambda: joined.id in world.ids("memberships"), what="the membership")
    assert card.id not in world.ids()
    assert not _rows(card.id)
    world.stop(listener)
    stats = listener.stats
    assert stats.stored == 4 and stats.own >= 1 and stats.malformed == 0
    assert stats.acks >= stats.stored


def test_a_killed_socket_loses_nothing_webex_stored_and_duplicates_nothing(world: World) -> None:
    listener = world.start()
    posted = [world.post("before")]
    wait_until(lambda: posted[0].id in world.ids())
    # The socket dies abruptly after one more frame; messages keep coming while it is down.
    world.fake.ws_drop(times=1, after_frames=1)
    for n in range(6):
        posted.append(world.post(f"during {n}"))
    wait_until(lambda: listener.stats.connects >= 2, what="the reconnect")
    posted.append(world.post("after"))
    ids = {m.id for m in posted}
    wait_until(lambda: ids <= set(world.ids()), what="every message (catch-up)")
    time.sleep(0.3)
    got = [i for i in world.ids() if i in ids]
    assert sorted(got) == sorted(ids)  # each exactly once
    assert WebhookDelivery.objects.filter(data_id__in=ids).count() == len(ids)
    assert listener.stats.caught_up >= 1  # some came over REST, not the socket


def test_a_stale_device_is_replaced_once(world: World) -> None:
    listener = world.start()
    assert world.fake.device_registrations == 1
    (device,) = world.fake.devices_of(world.bot)
    world.fake.ws_expire_device(device["url"])
    wait_until(lambda: listener.stats.stale_devices == 1 and listener.connected.is_set())
    message = world.post("after the new device")
    wait_until(lambda: message.id in world.ids())
    assert world.fake.device_registrations == 2
    assert len(world.fake.devices_of(world.bot)) == 1
    # Other errors never register a device: drop the socket three times.
    world.fake.ws_drop(times=3)
    wait_until(lambda: listener.stats.connects >= 5, timeout=30, what="three reconnects")
    assert world.fake.device_registrations == 2


def test_a_hundred_restarts_register_one_device(world: World) -> None:
    for _ in range(100):
        listener = world.start()
        world.stop(listener)
        world.threads.clear()
    assert world.fake.device_registrations == 1
    assert len(world.fake.devices_of(world.bot)) == 1


def test_both_transports_at_once_dispatch_each_event_once(world: World, client: Client) -> None:
    secret = "s3cret-for-both"
    hook = Webhook.objects.create(
        name="both", resource="messages", event="created", secret=secret, target_url=""
    )
    registered = world.fake.create_webhook(
        world.bot, "both", f"http://127.0.0.1:9/{hook.uuid}", "messages", "created", secret=secret
    )
    Webhook.objects.filter(pk=hook.pk).update(webex_id=registered.id)
    world.start()
    message = world.post("over both")
    # The fake's own attempt fails (nothing listens on port 9); replay its signed body into
    # the real receiver, as Webex's delivery would arrive.
    (delivery,) = world.fake.wait_for_deliveries(1)
    wait_until(lambda: message.id in world.ids(), what="the socket's copy")
    answer = client.post(
        reverse("webexteams:webhook", kwargs={"uuid": hook.uuid}),
        data=delivery.body,
        content_type="application/json",
        HTTP_X_SPARK_SIGNATURE=sign_body(secret, delivery.body),
    )
    assert answer.status_code == 200 and answer.content == b"duplicate"
    assert world.ids().count(message.id) == 1
    assert WebhookDelivery.objects.filter(data_id=message.id).count() == 1


def test_an_unacknowledged_resend_is_dispatched_once(world: World) -> None:
    """Acknowledged only once stored: a slow REST look-up leaves the frame unacknowledged past
    the fake's resend delay, so it arrives again; the second copy is a duplicate."""
    listener = world.start()
    world.fake.ws_resend_unacked(0.05)
    world.fake.set_latency(0.2)  # every REST answer: the look-up outlasts the resend delay
    message = world.post("slow")
    wait_until(lambda: listener.stats.duplicates >= 1, what="the resent frame")
    time.sleep(0.2)
    assert world.ids().count(message.id) == 1
    assert WebhookDelivery.objects.filter(data_id=message.id).count() == 1


FUZZ = [
    b"\xff\xfe not utf-8",
    "not json",
    "[]",
    "null",
    json.dumps({"id": 5, "data": {}}),
    json.dumps({"id": "x", "data": {"eventType": "conversation.activity", "activity": None}}),
    json.dumps({"id": "x", "data": {"eventType": "conversation.activity", "activity": {
        "id": "a", "verb": "post", "actor": {"id": "p"}, "target": {"id": "t", "url": 3}}}}),
    json.dumps({"id": "y", "data": {"eventType": "conversation.activity", "activity": {
        "id": "../../people/me", "verb": "post", "actor": {"id": "p"},
        "target": {"id": "t", "url": "http://127.0.0.1:1/conversations/t"}}}}),
    json.dumps({"id": "z", "data": {"eventType": "conversation.activity", "activity": {
        "id": "a" * 5000, "verb": "cardAction", "actor": {"id": "p"}}}}),
    "[" * 100_000,
]  # fmt: skip


def test_fuzzed_frames_never_crash_the_listener(world: World) -> None:
    listener = world.start()
    for frame in FUZZ:
        world.fake.ws_send_raw(frame)
    message = world.post("still alive")
    wait_until(lambda: message.id in world.ids())
    assert listener.stats.malformed + listener.stats.unresolved >= len(FUZZ) - 2
    assert listener.stats.connects == 1  # none of it dropped the connection


def test_the_token_goes_only_to_webex_hosts(world: World, fake_webex: Any) -> None:
    listener = world.start()
    before = len(fake_webex.requests)
    frame = {"id": "evil", "data": {"eventType": "conversation.activity", "activity": {
        "id": "11111111-1111-1111-1111-111111111111", "verb": "post",
        "actor": {"id": "22222222-2222-2222-2222-222222222222"},
        "target": {"id": "t1", "url": "http://127.0.0.2:9/conversation/api/v1/conversations/t1"},
    }}}  # fmt: skip
    world.fake.ws_send_raw(json.dumps(frame))
    wait_until(lambda: listener.stats.unresolved >= 1, what="the refusal")
    assert len(fake_webex.requests) == before  # no request at all, let alone with the token


def test_sigterm_during_a_slow_receiver_finishes_it_and_exits_0(world: World) -> None:
    started, finished = threading.Event(), threading.Event()

    def slow(sender: Any, **kwargs: Any) -> None:
        started.set()
        time.sleep(1.0)
        finished.set()

    signals.message_created.connect(slow, dispatch_uid="tests.listener.sigterm")
    out = StringIO()

    def drive() -> None:
        wait_until(lambda: world.fake.ws_connections() == 1, what="the command's socket")
        world.post("slow one")
        started.wait(WAIT_S)
        os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=drive, daemon=True)
    helper.start()
    try:
        call_command("webexteams_listen", stdout=out, stderr=StringIO())  # returns: exit 0
    finally:
        signals.message_created.disconnect(dispatch_uid="tests.listener.sigterm")
    assert finished.is_set()
    (row,) = WebhookDelivery.objects.filter(transport="websocket")
    assert row.status == "processed"  # the outcome is written before the command returns
    text = out.getvalue()
    assert "listening as Listener Bot" in text
    assert "stopped; frames=" in text and "stored=1" in text


WAIT_S = 15.0


def test_a_refused_token_exits_non_zero_with_one_line(world: World) -> None:
    from django.test.utils import override_settings

    with override_settings(WEBEXTEAMS={**world.settings, "BOT_TOKEN": "not-a-token"}):
        with pytest.raises(CommandError) as info:
            call_command("webexteams_listen", stdout=StringIO(), stderr=StringIO())
    message = str(info.value)
    assert "refused at discovery (401" in message and "\n" not in message
    assert "not-a-token" not in message
