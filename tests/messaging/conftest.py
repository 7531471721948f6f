"""Fixtures for the sending tests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _own_gate_cache(settings: Any) -> None:
    """Every test gets an empty rate-limit gate of its own (a fresh locmem cache)."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": uuid.uuid4().hex,
        },
    }


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def enqueued(monkeypatch: Any) -> list[int]:
    """Record the primary keys handed to the queue instead of sending tasks."""
    from django_webexteams.messaging import queue

    calls: list[int] = []
    monkeypatch.setattr(queue, "enqueue_delivery", lambda pk, **kw: calls.append(pk))
    return calls


@pytest.fixture
def webex(fake_webex: Any, settings: Any) -> Any:
    """The fake Webex with a bot (the settings' BOT_TOKEN), a person and a group space."""

    class World:
        fake = fake_webex
        bot = fake_webex.add_bot("Outbox Bot")
        alice = fake_webex.add_person("alice@example.com", "Alice")
        room = fake_webex.create_room(alice, "Outbox space", members=[bot])

    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake_webex.base_url,
        "BOT_TOKEN": World.bot.token,
        # Small timeouts keep failure tests quick; the lease follows them.
        "REQUEST_TIMEOUT": (2.0, 5.0),
    }
    return World
