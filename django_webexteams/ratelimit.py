"""The shared rate-limit gate: what one worker learns from a 429, every worker obeys.

Webex rate-limits per token holder (about 300 requests a minute for most endpoints, higher and
dynamic for ``/messages``; https://developer.webex.com/docs/basics#rate-limiting) and answers
429 with ``Retry-After``. Without coordination, N workers sending for the same bot each run
into their own 429 before backing off, and the burst costs N 429s per window (Webex may
lengthen ``Retry-After`` for clients that keep hammering). With the gate:

1. the worker that gets the 429 calls :func:`block` with the credential's key
   (:func:`django_webexteams.clients.rate_limit_key`, which never contains the token) and the
   parsed ``Retry-After``; the gate stores the wall-clock time "blocked until T" in the
   Django cache named by ``WEBEXTEAMS["RATE_LIMIT_CACHE"]`` (Redis in production: the cache must
   be shared by every worker host; a per-process cache such as locmem makes the gate local);
2. before calling Webex, every send asks :func:`blocked_for` and, if the answer is positive,
   reschedules itself (a Celery countdown, never ``sleep``) without calling Webex.

The optional proactive pacing (:func:`take_slot`, ``WEBEXTEAMS["SEND_RATE_LIMIT"]``) is a
fixed-window counter in the same cache: at most ``count`` sends per ``period`` seconds per
credential. It is off by default; the gate alone keeps a burst to about one 429 per
``Retry-After`` window.

Times are ``time.time()`` values, so the worker hosts' clocks must agree (NTP) to within a
fraction of the shortest ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache

from django_webexteams import conf

__all__ = ["block", "blocked_for", "gate_cache", "take_slot", "unblock"]

_GATE_PREFIX = "webexteams:gate:"
_PACE_PREFIX = "webexteams:pace:"


def gate_cache() -> BaseCache:
    """The Django cache holding the gate (``WEBEXTEAMS["RATE_LIMIT_CACHE"]``, read per call)."""
    return caches[str(conf.get("RATE_LIMIT_CACHE"))]


def _timeout(seconds: float) -> int:
    # The cache entry outlives the block by a little, never by much: it expires on its own,
    # so a crashed worker cannot leave a credential blocked forever.
    return max(1, math.ceil(seconds) + 1)


# Atomic "keep the maximum" on Redis: set the key only when the new end time is later than
# the stored one (values are integer milliseconds, which Django's RedisCache stores unpickled).
_MAX_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local new = tonumber(ARGV[1])
if new > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return new
end
return current
"""


def _redis_client(cache: BaseCache) -> Any | None:
    """The redis-py client behind Django's own ``RedisCache``, or ``None`` for other caches."""
    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(write=True)


def block(key: str, seconds: float, *, now: float | None = None) -> float:
    """Record that ``key`` must not call Webex for ``seconds``; returns the blocked-until time.

    Several workers may report a 429 at once with different ``Retry-After`` values; the gate
    keeps the latest end time (the maximum), so a short value never shortens a long block. On
    Django's ``RedisCache`` that is one atomic Lua script. On other caches it is ``cache.add``
    then a read-compare-set, which a concurrent report can interleave with: the gate may then
    open early, and the next 429 closes it again (one extra 429, never a lost message).
    """
    now = time.time() if now is None else now
    seconds = max(0.0, float(seconds))
    until_ms = math.ceil((now + seconds) * 1000)
    timeout = _timeout(seconds)
    cache = gate_cache()
    cache_key = _GATE_PREFIX + key
    client = _redis_client(cache)
    if client is not None:
        stored = client.eval(
            _MAX_SCRIPT, 1, cache.make_and_validate_key(cache_key), until_ms, timeout * 1000
        )
        return int(stored) / 1000
    if cache.add(cache_key, until_ms, timeout=timeout):
        return until_ms / 1000
    current = cache.get(cache_key)
    if current is not None and int(current) >= until_ms:
        return int(current) / 1000
    cache.set(cache_key, until_ms, timeout=timeout)
    return until_ms / 1000


def blocked_for(key: str, *, now: float | None = None) -> float:
    """Seconds ``key`` must still wait before calling Webex (0.0 when it may go now)."""
    value: Any = gate_cache().get(_GATE_PREFIX + key)
    if value is None:
        return 0.0
    now = time.time() if now is None else now
    return max(0.0, int(value) / 1000 - now)


def unblock(key: str) -> None:
    """Lift the gate for ``key`` (tests, or staff who know better)."""
    gate_cache().delete(_GATE_PREFIX + key)


def take_slot(key: str, *, now: float | None = None) -> float:
    """Proactive pacing: take one send slot for ``key``; return 0.0, or the seconds to wait
    until the next window when this window is full.

    Configured by ``WEBEXTEAMS["SEND_RATE_LIMIT"]`` = ``(count, period_seconds)``; ``None``
    (the default) disables pacing and always returns 0.0. A fixed window is cruder than a
    token bucket (up to ``2 * count`` sends can straddle a window boundary) but needs only
    the cache's atomic ``add`` and ``incr``, which every Django cache backend offers.
    """
    setting = conf.get("SEND_RATE_LIMIT")
    if not setting:
        return 0.0
    count, period = int(setting[0]), float(setting[1])
    if count <= 0 or period <= 0:
        return 0.0
    now = time.time() if now is None else now
    window = math.floor(now / period)
    cache = gate_cache()
    cache_key = f"{_PACE_PREFIX}{key}:{window}"
    cache.add(cache_key, 0, timeout=_timeout(2 * period))
    try:
        used = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: this window is over anyway
        return 0.0
    if used <= count:
        return 0.0
    return max(0.0, (window + 1) * period - now)
