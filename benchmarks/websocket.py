"""Websocket receive: events per second from the fake Webex's socket to a no-op signal
receiver, and REST calls per event, for our listener against webex_bot (PyPI ``webex-bot``)
pointed at the same fake, in one run (issue 18).

Both receive the same posts (Alice mentions the bot in a group space) through the same fake.
Ours stores each event (one INSERT, the dedupe key), acknowledges it and sends the signals,
in ``sync`` dispatch; webex_bot keeps nothing and calls ``on_message`` from an executor
thread. webex_bot is pointed at the fake by patching three things, and only those: its U2C
URL constant (``DEFAULT_U2C_URL``), its module-level ``ssl_context`` (set to ``None``: the
fake speaks ``ws://``, and ``websockets`` refuses an SSL context for a ``ws://`` URL) and the
SDK's base URL (``WebexAPI(base_url=...)``). The rate is measured from the first post to the
last event received, per round; rounds alternate the two and the ratio is the median of
per-round ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

from benchmarks import goals
from benchmarks.common import log, median, write_result


def _world(fake: Any) -> tuple[Any, Any, Any]:
    alice = fake.add_person("alice@example.com", "Alice")
    bot = fake.add_bot("Bench Bot")
    room = fake.create_room(alice, "Bench space", members=[bot])
    return alice, bot, room


def _post_all(fake: Any, alice: Any, bot: Any, room: Any, count: int, tag: str) -> float:
    started = time.perf_counter()
    for n in range(count):
        fake.post_message(alice, room.id, text=f"{tag} {n}", mentions=[bot])
    return started


def _bot_calls(fake: Any, bot: Any) -> int:
    return sum(1 for r in fake.requests if getattr(r, "person_id", None) == bot.id)


def _ours(fake: Any, alice: Any, bot: Any, room: Any, count: int, tag: str) -> dict[str, Any]:
    from django.test.utils import override_settings

    from django_webexteams import signals
    from django_webexteams.listener import Listener

    got: list[float] = []
    done = threading.Event()

    def noop(sender: Any, **kwargs: Any) -> None:
        got.append(time.perf_counter())
        if len(got) >= count:
            done.set()

    signals.message_created.connect(noop, dispatch_uid="bench.websocket")
    settings = {
        "API_BASE_URL": fake.base_url,
        "BOT_TOKEN": bot.token,
        "LISTENER_U2C_URL": fake.u2c_url,
        "WEBHOOK_DISPATCH": "sync",
        "LISTENER_CATCHUP_SECONDS": 0,
    }
    try:
        with override_settings(WEBEXTEAMS=settings):
            listener = Listener(device_name=f"bench-{tag}")
            thread = threading.Thread(target=listener.run, daemon=True)
            thread.start()
            # Authorised at the fake (no replay: a post before that is not on the socket).
            if not listener.connected.wait(20) or not fake.wait_for_ws_connections(1, 20):
                raise RuntimeError("our listener did not connect to the fake")
            before = _bot_calls(fake, bot)
            started = _post_all(fake, alice, bot, room, count, tag)
            if not done.wait(120):
                raise RuntimeError(
                    f"our listener received {len(got)} of {count} events: "
                    f"{listener.stats.summary()}"
                )
            calls = _bot_calls(fake, bot) - before
            listener.stop()
            thread.join(20)
    finally:
        signals.message_created.disconnect(dispatch_uid="bench.websocket")
    seconds = got[-1] - started
    return {
        "events_per_second": count / seconds,
        "rest_calls_per_event": calls / count,
        "lost": count - len(got),
    }


def _webex_bot(fake: Any, alice: Any, bot: Any, room: Any, count: int, tag: str) -> dict[str, Any]:
    import webexpythonsdk
    from webex_bot.websockets import webex_websocket_client as wbc

    got: list[float] = []
    done = threading.Event()

    def on_message(teams_message: Any, activity: Any) -> None:
        got.append(time.perf_counter())
        if len(got) >= count:
            done.set()

    wbc.DEFAULT_U2C_URL = fake.u2c_url
    wbc.ssl_context = None  # ws:// to the fake: websockets refuses an SSL context there
    original = webexpythonsdk.WebexAPI.__init__

    def at_fake(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["base_url"] = fake.base_url + "/"
        original(self, *args, **kwargs)

    webexpythonsdk.WebexAPI.__init__ = at_fake
    wbc.WebexAPI = webexpythonsdk.WebexAPI
    loop = asyncio.new_event_loop()
    try:
        client = wbc.WebexWebsocketClient(bot.token, "bench", on_message=on_message)

        def run() -> None:
            asyncio.set_event_loop(loop)
            # It runs until its socket and the fake are gone (no stop API of its own).
            with contextlib.suppress(BaseException):
                client.run()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        if not fake.wait_for_ws_connections(1, timeout=20):
            raise RuntimeError("webex_bot did not connect to the fake")
        before = _bot_calls(fake, bot)
        started = _post_all(fake, alice, bot, room, count, tag)
        # webex_bot loses events under load (its ack runs asyncio.run() on another loop's
        # socket from executor threads; when that raises, on_message is never called): the
        # rate counts what it delivered, and "lost" says how many it did not.
        done.wait(60)
        calls = _bot_calls(fake, bot) - before
    finally:
        webexpythonsdk.WebexAPI.__init__ = original
    if not got:
        raise RuntimeError("webex_bot delivered no event")
    seconds = got[-1] - started
    return {
        "events_per_second": len(got) / seconds,
        "rest_calls_per_event": calls / len(got),
        "lost": count - len(got),
        "_stop": (loop, thread),
    }


def run(*, count: int = 300, rounds: int = 3) -> dict[str, Any]:
    from benchmarks.ingest import ensure_database, setup_django

    ensure_database()
    setup_django()
    from django_webexteams.testing import FakeWebex

    per_round: list[dict[str, Any]] = []
    for number in range(rounds):
        with FakeWebex() as fake:
            alice, bot, room = _world(fake)
            ours = _ours(fake, alice, bot, room, count, f"ours{number}")
        with FakeWebex() as fake:
            alice, bot, room = _world(fake)
            theirs = _webex_bot(fake, alice, bot, room, count, f"wb{number}")
            theirs.pop("_stop")
        ratio = ours["events_per_second"] / theirs["events_per_second"]
        per_round.append({"ours": ours, "webex_bot": theirs, "ratio": ratio})
        log(
            f"websocket round {number + 1}: ours {ours['events_per_second']:.0f} ev/s "
            f"({ours['rest_calls_per_event']:.2f} calls/ev), webex_bot "
            f"{theirs['events_per_second']:.0f} ev/s ({theirs['rest_calls_per_event']:.2f}, "
            f"lost {theirs['lost']} of {count})"
        )
    result = {
        "count": count,
        "rounds": per_round,
        "ours_events_per_second": median([r["ours"]["events_per_second"] for r in per_round]),
        "webex_bot_events_per_second": median(
            [r["webex_bot"]["events_per_second"] for r in per_round]
        ),
        "ours_rest_calls_per_event": median([r["ours"]["rest_calls_per_event"] for r in per_round]),
        "webex_bot_rest_calls_per_event": median(
            [r["webex_bot"]["rest_calls_per_event"] for r in per_round]
        ),
        "ratio": median([r["ratio"] for r in per_round]),
        "webex_bot_lost": [r["webex_bot"]["lost"] for r in per_round],
        "ours_lost": [r["ours"]["lost"] for r in per_round],
    }
    result["goals"] = goals.websocket(result)
    write_result("websocket", result)
    return result
