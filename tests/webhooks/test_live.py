"""Over real HTTP: the fake Webex delivers signed webhooks to a live server; concurrent
redeliveries on PostgreSQL; the Celery dispatch mode with real workers and Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from django_webexteams import signals, webhooks
from django_webexteams.models import OutboundMessage, Webhook, WebhookDelivery
from django_webexteams.webhooks import dispatch as webhook_dispatch
from testproject.bot.receivers import ECHO_UID, echo
from tests.webhooks.cases import CASES, Target, encode, payload, signed
from tests.webhooks.conftest import Recorder, make_webhook, receiver_path

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


@pytest.fixture
def scene(fake_webex: Any, live_server: Any, settings: Any) -> Any:
    """A bot, a person and a space with both, settings pointing at the fake and the server."""
    bot = fake_webex.add_bot("Echo Bot")
    alice = fake_webex.add_person("alice@example.com", "Alice")
    room = fake_webex.create_room(alice, "Project", members=[bot])
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "BOT_TOKEN": bot.token,
        "WEBHOOK_BASE_URL": live_server.url,
    }

    class Scene:
        pass

    s = Scene()
    s.fake, s.bot, s.alice, s.room, s.server = fake_webex, bot, alice, room, live_server  # type: ignore[attr-defined]
    return s


def test_fake_webex_delivers_a_message_to_the_signal_and_fetch_returns_its_text(
    scene: Any, recorder: Recorder
) -> None:
    fetched: list[str] = []

    def read_it(sender: Any, event: Any, **kwargs: Any) -> None:
        fetched.append(event.fetch().text)

    signals.message_created.connect(read_it)
    try:
        webhook = webhooks.register_webhook(name="bot", resource="messages", event="created")
        scene.fake.post_message(scene.alice, scene.room.id, text="hello bot", mentions=[scene.bot])
        delivery = scene.fake.wait_for_deliveries(1)[0]
    finally:
        signals.message_created.disconnect(read_it)
    assert delivery.status_code == 200
    assert delivery.target_url == webhook.target_url
    assert recorder.names() == ["webhook_received", "messages:created"]
    event = recorder.calls[1][1]["event"]
    assert (event.resource, event.event, event.actor_id) == ("messages", "created", scene.alice.id)
    assert recorder.calls[1][1]["webhook"] == webhook
    assert len(fetched) == 1 and "hello bot" in fetched[0]
    webhooks.flush_outcomes()  # the live server answered in autocommit: outcomes are batched
    stored = WebhookDelivery.objects.get()
    assert stored.status == WebhookDelivery.Status.PROCESSED
    assert stored.actor_id == scene.alice.id


@pytest.fixture
def eager_celery() -> Iterator[None]:
    from testproject.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


@pytest.fixture
def echo_bot() -> Iterator[None]:
    signals.message_created.connect(echo, dispatch_uid=ECHO_UID)
    yield


def _naive_echo(sender: Any, *, event: Any, **kwargs: Any) -> None:
    """A hand-written receiver that answers every message, with no own-event check of its
    own: what send_message's loop breaker is there for."""
    from django_webexteams.messaging import send_message

    message = event.fetch()
    send_message(room_id=message.room_id, parent_id=message.id, text=f"You said: {message.text}")


@pytest.fixture
def naive_echo() -> Iterator[None]:
    """The example bot (the toolkit, which drops its own events itself) swapped for
    :func:`_naive_echo`, so the loop breaker is the only thing left between a reply and the
    next."""
    from testproject.bot.receivers import bot as example_bot

    example_bot.disconnect()
    signals.message_created.connect(_naive_echo, dispatch_uid="tests.naive_echo")
    try:
        yield
    finally:
        signals.message_created.disconnect(dispatch_uid="tests.naive_echo")
        example_bot.connect()


@pytest.mark.usefixtures("eager_celery", "echo_bot")
def test_the_example_bot_answers_once_and_ignores_its_own_reply(scene: Any) -> None:
    webhooks.register_webhook(name="bot", resource="messages", event="created")
    scene.fake.post_message(scene.alice, scene.room.id, text="ping", mentions=[scene.bot])
    # Alice's message, then the bot's reply (delivered because the webhook has no filter).
    deliveries = scene.fake.wait_for_deliveries(2)
    assert scene.fake.wait_for_idle()
    assert [d.status_code for d in deliveries] == [200, 200]
    webhooks.flush_outcomes()
    statuses = dict(WebhookDelivery.objects.values_list("actor_id", "status"))
    assert statuses == {scene.alice.id: "processed", scene.bot.id: "ignored"}
    replies = [m for m in scene.fake.messages_in(scene.room.id) if m["personId"] == scene.bot.id]
    assert len(replies) == 1
    assert "You said:" in replies[0]["text"] and "ping" in replies[0]["text"]


def _echo_story(fake: Any, server: Any, settings: Any, token: str, text: str) -> Any:
    """A bot with ``token``, Alice and a space on ``fake``; the bot registers its webhook,
    Alice posts ``text``; returns (bot, room) once the fake has delivered everything."""
    bot = fake.add_bot("Echo Bot", token=token)
    alice = fake.add_person("alice@example.com", "Alice")
    room = fake.create_room(alice, "Project", members=[bot])
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake.base_url,
        "BOT_TOKEN": token,
        "WEBHOOK_BASE_URL": server.url,
    }
    webhooks.register_webhook(name="bot", resource="messages", event="created")
    fake.post_message(alice, room.id, text=text, mentions=[bot])
    fake.wait_for_deliveries(2)
    assert fake.wait_for_idle()
    time.sleep(0.5)  # a loop would show as more deliveries: let it have its chance
    assert fake.wait_for_idle()
    return bot, room


def _bot_messages(fake: Any, room: Any, bot: Any) -> list[dict[str, Any]]:
    return [m for m in fake.messages_in(room.id) if m["personId"] == bot.id]


@pytest.mark.usefixtures("eager_celery", "echo_bot")
def test_a_restarted_fake_under_a_warm_cache_gets_exactly_one_reply(
    live_server: Any, settings: Any
) -> None:
    """Issue 15: the fake restarted (same port, same token, new person ids) while the cache
    still holds the bot's old person id. The bot must answer Alice once, not its replies."""
    from django.core.cache import caches

    from django_webexteams.clients import identity_cache_key
    from django_webexteams.testing import FakeWebex

    caches["default"].clear()
    token = "issue15-echo-bot-token"
    with FakeWebex() as first:
        port = first.port
        bot1, room1 = _echo_story(first, live_server, settings, token, "ping")
        assert len(_bot_messages(first, room1, bot1)) == 1
    assert caches["default"].get(identity_cache_key(None)) == bot1.id  # the cache is warm
    WebhookDelivery.objects.all().delete()
    Webhook.objects.all().delete()
    OutboundMessage.objects.all().delete()
    with FakeWebex(port=port) as second:
        bot2, room2 = _echo_story(second, live_server, settings, token, "pong")
        assert bot2.id != bot1.id
        replies = _bot_messages(second, room2, bot2)
        deliveries = len(second.deliveries)
    assert len(replies) == 1, [m["text"] for m in replies]
    assert "You said: You said" not in replies[0]["text"]
    assert deliveries == 2  # Alice's message and the one reply
    webhooks.flush_outcomes()
    statuses = dict(WebhookDelivery.objects.values_list("actor_id", "status"))
    assert statuses[bot2.id] == "ignored"
    assert OutboundMessage.objects.count() == 1
    # The stale id was checked again (createdBy disagreed) and replaced.
    assert caches["default"].get(identity_cache_key(None)) == bot2.id


@pytest.mark.usefixtures("eager_celery", "naive_echo")
def test_the_loop_breaker_stops_a_reply_to_the_bots_own_reply(scene: Any, settings: Any) -> None:
    """Defence in depth: with the own-event check off (as if it were wrong), the bot's
    reply comes back as an event and a receiver that answers everything answers it;
    send_message's loop breaker stores that second reply as failed and never sends it."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH_OWN_EVENTS": True}
    webhooks.register_webhook(name="bot", resource="messages", event="created")
    scene.fake.post_message(scene.alice, scene.room.id, text="ping", mentions=[scene.bot])
    scene.fake.wait_for_deliveries(2)
    assert scene.fake.wait_for_idle()
    time.sleep(0.5)
    assert scene.fake.wait_for_idle()
    assert len(_bot_messages(scene.fake, scene.room, scene.bot)) == 1
    rows = {r.status: r for r in OutboundMessage.objects.all()}
    assert set(rows) == {"sent", "failed"}
    assert "loop breaker" in rows["failed"].last_error
    assert rows["failed"].attempts == 0


@pytest.mark.usefixtures("eager_celery", "naive_echo")
def test_the_loop_breaker_knows_the_sender_from_webex_even_with_another_created_by(
    scene: Any, settings: Any
) -> None:
    """The webhook's createdBy is not the bot here (own-event check patched away and
    createdBy unknown): the personId Webex returned for the bot's first reply still stops
    the second."""
    from unittest import mock

    from django_webexteams.events import WebhookEvent

    webhooks.register_webhook(name="bot", resource="messages", event="created")
    original = WebhookEvent.from_payload

    def without_created_by(payload: dict[str, Any], **kw: Any) -> WebhookEvent:
        return original({**payload, "createdBy": None}, **kw)

    with (
        mock.patch.object(webhook_dispatch, "_is_own_event", return_value=False),
        mock.patch.object(WebhookEvent, "from_payload", side_effect=without_created_by),
    ):
        scene.fake.post_message(scene.alice, scene.room.id, text="ping", mentions=[scene.bot])
        scene.fake.wait_for_deliveries(2)
        assert scene.fake.wait_for_idle()
        time.sleep(0.5)
        assert scene.fake.wait_for_idle()
    assert len(_bot_messages(scene.fake, scene.room, scene.bot)) == 1
    assert OutboundMessage.objects.filter(status="failed", last_error__contains="loop").exists()


def test_security_table_over_real_http(live_server: Any, recorder: Recorder) -> None:
    """The same table, through a real server and socket (headers as a proxy-less Webex
    would send them)."""
    from django_webexteams import conf

    hook = make_webhook()
    no_secret = make_webhook(secret="")
    inactive = make_webhook(status=Webhook.Status.INACTIVE, secret=hook.secret)
    import uuid

    target = Target(
        url=live_server.url + receiver_path(hook.uuid),
        secret=hook.secret,
        webex_id=str(hook.webex_id),
        unknown_url=live_server.url + receiver_path(uuid.uuid4()),
        no_secret_url=live_server.url + receiver_path(no_secret.uuid),
        no_secret_webex_id=str(no_secret.webex_id),
        inactive_url=live_server.url + receiver_path(inactive.uuid),
        inactive_webex_id=str(inactive.webex_id),
        max_body=int(conf.get("WEBHOOK_MAX_BODY_BYTES")),
    )
    for case in CASES:
        req = case.build(target)
        response = requests.request(
            req.method, req.url, data=req.body,
            headers={"Content-Type": req.content_type, **req.headers}, timeout=30,
        )  # fmt: skip
        assert response.status_code == case.status, case.name
    assert WebhookDelivery.objects.count() == 0
    assert recorder.calls == []


@pytest.mark.postgres
def test_concurrent_copies_of_one_delivery_dispatch_once(
    live_server: Any, recorder: Recorder
) -> None:
    hook = make_webhook()
    url = live_server.url + receiver_path(hook.uuid)
    request = signed(url, hook.secret, encode(payload(hook.webex_id)))
    copies = 12
    barrier = threading.Barrier(copies)

    def post(_: int) -> int:
        barrier.wait()
        response = requests.post(url, data=request.body, headers=request.headers, timeout=60)
        return response.status_code

    with ThreadPoolExecutor(copies) as pool:
        codes = list(pool.map(post, range(copies)))
    assert codes == [200] * copies
    assert WebhookDelivery.objects.count() == 1
    assert recorder.names() == ["webhook_received", "messages:created"]


@pytest.mark.celery
def test_celery_mode_with_real_workers(
    fake_webex: Any, live_server: Any, celery_workers: Any, settings: Any
) -> None:
    """The view answers at once; a worker process sends the signals. The example bot (its
    receivers are connected in the worker) fetches the message and answers through the
    outbox, and its own reply comes back as an ignored delivery."""
    bot = fake_webex.add_bot("Echo Bot")
    alice = fake_webex.add_person("alice@example.com", "Alice")
    room = fake_webex.create_room(alice, "Project", members=[bot])
    config = {"WEBHOOK_DISPATCH": "celery", "BOT_TOKEN": bot.token,
              "WEBHOOK_BASE_URL": live_server.url}  # fmt: skip
    group = celery_workers(fake_webex.base_url, webexteams=config)
    webhooks.register_webhook(name="bot", resource="messages", event="created")

    fake_webex.post_message(alice, room.id, text="hello worker", mentions=[bot])
    first = fake_webex.wait_for_deliveries(1)[0]
    assert first.status_code == 200
    try:
        check_worker_outcome(fake_webex, room, alice, bot)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker logs:\n{group.logs()[-6000:]}") from None


def check_worker_outcome(fake_webex: Any, room: Any, alice: Any, bot: Any) -> None:
    wait_until(
        lambda: WebhookDelivery.objects.filter(actor_id=alice.id, status="processed").exists(),
        what="the worker to process alice's delivery",
    )
    reply = wait_until(
        lambda: OutboundMessage.objects.filter(status="sent").first(), what="the bot's reply"
    )
    assert reply.room_id == room.id and "hello worker" in reply.text
    wait_until(
        lambda: WebhookDelivery.objects.filter(actor_id=bot.id, status="ignored").exists(),
        what="the bot's own message to come back as an ignored delivery",
    )
    texts = [m["text"] for m in fake_webex.messages_in(room.id) if m["personId"] == bot.id]
    assert len(texts) == 1 and texts[0].startswith("You said:")
