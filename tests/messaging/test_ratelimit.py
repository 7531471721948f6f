"""The shared rate-limit gate (django_webexteams.ratelimit) on locmem and on the real Redis."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from django_webexteams import ratelimit
from tests.conftest import redis_url


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def gate(request: Any, settings: Any) -> str:
    """Point RATE_LIMIT_CACHE at a fresh cache; return a unique gate key."""
    if request.param == "locmem":
        backend = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                   "LOCATION": uuid.uuid4().hex}  # fmt: skip
    else:
        backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                   "LOCATION": redis_url(13), "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}  # fmt: skip
    settings.CACHES = {**settings.CACHES, "gate": backend}
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "gate"}
    return f"webexteams:bot:{uuid.uuid4().hex[:16]}"


def test_open_until_blocked(gate: str) -> None:
    assert ratelimit.blocked_for(gate) == 0.0
    until = ratelimit.block(gate, 30, now=1000.0)
    assert until == 1030.0
    assert ratelimit.blocked_for(gate, now=1010.0) == pytest.approx(20.0)
    assert ratelimit.blocked_for(gate, now=1031.0) == 0.0


def test_keys_are_independent(gate: str) -> None:
    ratelimit.block(gate, 30)
    assert ratelimit.blocked_for(gate + "-other") == 0.0


def test_keeps_the_latest_end(gate: str) -> None:
    ratelimit.block(gate, 60, now=1000.0)
    # A shorter Retry-After reported later must not shorten the block...
    assert ratelimit.block(gate, 5, now=1001.0) == 1060.0
    assert ratelimit.blocked_for(gate, now=1002.0) == pytest.approx(58.0)
    # ...a longer one extends it.
    assert ratelimit.block(gate, 100, now=1002.0) == 1102.0
    assert ratelimit.blocked_for(gate, now=1002.0) == pytest.approx(100.0)


def test_concurrent_reports_keep_the_maximum(gate: str) -> None:
    values = [float(v) for v in range(1, 41)]
    threads = [threading.Thread(target=ratelimit.block, args=(gate, v), kwargs={"now": 0.0})
               for v in values]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ratelimit.blocked_for(gate, now=0.0) == max(values)


def test_unblock(gate: str) -> None:
    ratelimit.block(gate, 30)
    ratelimit.unblock(gate)
    assert ratelimit.blocked_for(gate) == 0.0


def test_the_entry_expires_on_its_own(gate: str, monkeypatch: Any) -> None:
    # The cache entry carries a timeout just past the block, so a crashed worker (or a bogus
    # Retry-After) can never leave a credential blocked forever.
    cache = ratelimit.gate_cache()
    timeouts: list[Any] = []
    for name in ("add", "set"):
        original = getattr(cache, name)

        def spy(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            timeouts.append(kwargs.get("timeout"))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cache, name, spy)
    monkeypatch.setattr(ratelimit, "gate_cache", lambda: cache)
    ratelimit.block(gate, 7.2, now=1000.0)
    ratelimit.block(gate, 30, now=1000.0)
    assert timeouts[0] == 9
    assert timeouts[-1] == 31


def test_pacing_is_off_by_default(gate: str) -> None:
    assert all(ratelimit.take_slot(gate) == 0.0 for _ in range(100))


def test_pacing_fixed_window(gate: str, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_LIMIT": (3, 10.0)}
    waits = [ratelimit.take_slot(gate, now=1002.0) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(8.0), pytest.approx(8.0)]
    # The next window has fresh slots.
    assert ratelimit.take_slot(gate, now=1010.5) == 0.0
