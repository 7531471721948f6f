"""Fixtures for the websocket listener: a fake Webex with a bot and a person in a space, and a
listener running in a thread against it (its own database connection: transactional tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test.utils import override_settings

from django_webexteams import signals
from django_webexteams.listener import Listener

WAIT = 15.0


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


@dataclass
class World:
    fake: Any
    bot: Any
    alice: Any
    room: Any
    settings: dict[str, Any]
    received: list[Any] = field(default_factory=list)
    threads: list[tuple[Listener, threading.Thread]] = field(default_factory=list)

    def start(self, **kwargs: Any) -> Listener:
        listener = Listener(**kwargs)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                listener.run()
            except BaseException as exc:  # surfaced by stop_all
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.errors = errors  # type: ignore[attr-defined]
        thread.start()
        self.threads.append((listener, thread))
        wait_until(lambda: listener.connected.is_set() or errors, what="the listener to connect")
        if errors:
            raise errors[0]
        # Authorised at the fake too: Webex does not replay what happened before.
        wanted = sum(1 for lst, t in self.threads if t.is_alive() and lst.connected.is_set())
        wait_until(lambda: self.fake.ws_connections() >= wanted, what="the fake's authorisation")
        return listener

    def stop(self, listener: Listener) -> None:
        for lst, thread in self.threads:
            if lst is listener:
                lst.stop()
                thread.join(20)
                assert not thread.is_alive(), "the listener did not stop"
                errors = thread.errors  # type: ignore[attr-defined]
                if errors:
                    raise errors[0]

    def stop_all(self) -> None:
        for listener, _thread in list(self.threads):
            self.stop(listener)
        self.threads.clear()

    def post(self, text: str, **kw: Any) -> Any:
        """Alice posts, mentioning the bot (in a group space a bot hears only mentions)."""
        return self.fake.post_message(
            self.alice, self.room.id, text=text, mentions=[self.bot], **kw
        )

    def ids(self, resource: str = "messages", event: str = "created") -> list[str]:
        return [e.data_id for e in self.received if (e.resource, e.event) == (resource, event)]


@pytest.fixture
def world(fake_webex: Any) -> Iterator[World]:
    fake = fake_webex
    bot = fake.add_bot("Listener Bot")
    alice = fake.add_person("alice@example.com", "Alice")
    room = fake.create_room(alice, "Ops", [bot])
    from django.conf import settings as django_settings

    conf = {
        **dict(getattr(django_settings, "WEBEXTEAMS", {}) or {}),
        "API_BASE_URL": fake.base_url,
        "BOT_TOKEN": bot.token,
        "LISTENER_U2C_URL": fake.u2c_url,
        "LISTENER_PING_SECONDS": 2.0,
        "LISTENER_BACKOFF_MAX_SECONDS": 0.2,
        "WEBHOOK_DISPATCH": "sync",
        "WEBHOOK_OUTCOME_BATCH_SECONDS": 0,
    }
    w = World(fake, bot, alice, room, conf)
    lock = threading.Lock()

    def record(sender: Any, *, event: Any, **kwargs: Any) -> None:
        with lock:
            w.received.append(event)

    signals.webhook_received.connect(record, dispatch_uid="tests.listener.record")
    try:
        with override_settings(WEBEXTEAMS=conf):
            yield w
            w.stop_all()
    finally:
        signals.webhook_received.disconnect(dispatch_uid="tests.listener.record")
