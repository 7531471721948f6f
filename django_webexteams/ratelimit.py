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


def block(key: str, seconds: float, *, now: float | None = None) -> float:
    """Record that ``key`` must not call Webex for ``seconds``; returns the blocked-until time.

    Several workers may report a 429 at once with different ``Retry-After`` values; the gate
    keeps the latest end time (the maximum), so a short value never shortens a long block.
    ``cache.add`` is atomic; the read-compare-set that follows when an entry exists is not,
    so it re-reads and repeats a few times until the stored value is at least ours.
    """
    now = time.time() if now is None else now
    until = now + max(0.0, float(seconds))
    cache = gate_cache()
    cache_key = _GATE_PREFIX + key
    if cache.add(cache_key, until, timeout=_timeout(until - now)):
        return until
    for _ in range(5):
        current = cache.get(cache_key)
        if current is not None and float(current) >= until:
            return float(current)
        cache.set(cache_key, until, timeout=_timeout(until - now))
    return until


def blocked_for(key: str, *, now: float | None = None) -> float:
    """Seconds ``key`` must still wait before calling Webex (0.0 when it may go now)."""
    value: Any = gate_cache().get(_GATE_PREFIX + key)
    if value is None:
        return 0.0
    now = time.time() if now is None else now
    return max(0.0, float(value) - now)


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
