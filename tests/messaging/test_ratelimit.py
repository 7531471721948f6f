"""The shared rate-limit gate (django_webexteams.ratelimit) on locmem and on the real Redis."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from django_webexteams.messaging import ratelimit
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


@pytest.mark.redis
def test_concurrent_reports_keep_the_maximum_on_redis(settings: Any) -> None:
    """On Redis the max is one atomic script: whatever the interleaving, the longest wins."""
    settings.CACHES = {**settings.CACHES, "gate": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url(13), "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}  # fmt: skip
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "gate"}
    key = f"webexteams:bot:{uuid.uuid4().hex[:16]}"
    values = [float(v) for v in range(1, 41)]
    for _ in range(5):
        barrier = threading.Barrier(len(values))

        def report(v: float) -> None:
            barrier.wait()
            ratelimit.block(key, v, now=0.0)

        threads = [threading.Thread(target=report, args=(v,)) for v in values]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ratelimit.blocked_for(key, now=0.0) == max(values)
        ratelimit.unblock(key)


def test_unblock(gate: str) -> None:
    ratelimit.block(gate, 30)
    ratelimit.unblock(gate)
    assert ratelimit.blocked_for(gate) == 0.0


@pytest.mark.redis
def test_the_redis_entry_expires_on_its_own(settings: Any) -> None:
    # The entry carries a TTL just past the block, so a crashed worker (or a bogus
    # Retry-After) can never leave a credential blocked forever.
    settings.CACHES = {**settings.CACHES, "gate": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url(13), "KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"}}  # fmt: skip
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "gate"}
    cache = ratelimit.gate_cache()
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    full_key = cache.make_and_validate_key("webexteams:gate:k1")
    ratelimit.block("k1", 7.2)
    assert 8000 < client.pttl(full_key) <= 9000
    ratelimit.block("k1", 2)  # shorter: neither the end nor the TTL shrinks
    assert 8000 < client.pttl(full_key) <= 9000
    ratelimit.block("k1", 30)
    assert 30000 < client.pttl(full_key) <= 31000


def test_the_entry_expires_on_its_own(monkeypatch: Any, settings: Any) -> None:
    settings.CACHES = {**settings.CACHES, "gate": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": uuid.uuid4().hex}}  # fmt: skip
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "gate"}
    cache = ratelimit.gate_cache()
    timeouts: list[Any] = []
    for name in ("add", "set"):
        original = getattr(cache, name)

        def spy(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            timeouts.append(kwargs.get("timeout"))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cache, name, spy)
    monkeypatch.setattr(ratelimit, "gate_cache", lambda: cache)
    ratelimit.block("k2", 7.2, now=1000.0)
    ratelimit.block("k2", 30, now=1000.0)
    assert timeouts == [9, 31, 31]  # add (new), add (exists: refused), set (longer)


def test_pacing_is_off_by_default(gate: str) -> None:
    assert all(ratelimit.take_slot(gate) == 0.0 for _ in range(100))


def test_pacing_fixed_window(gate: str, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_LIMIT": (3, 10.0)}
    waits = [ratelimit.take_slot(gate, now=1002.0) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(8.0), pytest.approx(8.0)]
    # The next window has fresh slots.
    assert ratelimit.take_slot(gate, now=1010.5) == 0.0
