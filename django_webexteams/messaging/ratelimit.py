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

Adaptive pacing (:func:`acquire`, :func:`record_429`; ``WEBEXTEAMS["SEND_RATE_ADAPTIVE"]``,
on by default) learns each credential's rate from its 429s and admits sends at that rate
(GCRA), giving refused sends evenly spaced wake-up slots; the comment block above
:class:`PaceConfig` describes the state, docs/sending.md the behaviour. The older fixed-window
pacing (:func:`take_slot`, ``SEND_RATE_LIMIT``) is used only when adaptive pacing is off.

Times are ``time.time()`` values, so the worker hosts' clocks must agree (NTP) to within a
fraction of the shortest ``Retry-After``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache

from django_webexteams import conf

__all__ = [
    "PaceConfig",
    "Ticket",
    "acquire",
    "block",
    "blocked_for",
    "current_rate",
    "forget",
    "gate_cache",
    "pace_config",
    "record_429",
    "take_slot",
    "unblock",
]

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
    """Lift the gate for ``key`` and forget its learnt rate and reservations (tests, or
    staff who know better)."""
    gate_cache().delete_many([_GATE_PREFIX + key, _ADAPT_PREFIX + key, _SENT_PREFIX + key])


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


# --- adaptive pacing: learn the credential's rate from its 429s ----------------------------------
#
# Per credential, one small state shared by every worker (a Redis hash, or one cache entry):
#
# - ``base``/``t0``: the pacing rate is ``base * (1 + increase * (t - t0))`` requests per second
#   at time ``t`` (linear probing upwards since the last decrease; ``base`` 0 means "not
#   learnt yet": unpaced, the gate alone holds sends back).
# - ``tat``: admission (GCRA, the "virtual scheduling" form of a token bucket). A send may go
#   at ``now`` when ``now >= tat - tolerance``; it then moves ``tat`` to ``max(tat, now -
#   tolerance) + 1 / rate``. Whatever order and lateness the tasks run in, any interval of T
#   seconds admits at most about ``rate * T + 1.5`` sends: a task delayed behind a busy queue
#   cannot burst.
# - ``next``: wake-up slots for the sends that were not admitted, one ``1 / rate`` apart, so
#   they come back spread out instead of all at once. A slot is a hint: at its time the task
#   asks for admission again (and reserves a new slot if it is refused).
# - ``dec``: when the last decrease happened. A 429 for a request that *started* before it
#   was already in flight when we reacted, so it does not decrease the rate a second time.
# - recent admissions (times), kept for ``_HISTORY`` seconds: on a 429 the new rate is
#   ``decrease * min(admissions per second just before the refused send began, current
#   rate)``: what Webex accepted until it said "too many". (Admission times, not response
#   times: a success is only known a round trip later, which would undercount the window.)

#: How long the admission history reaches back (seconds): the longest window a 429 measures.
_HISTORY = 60.0
#: A slot this close to now (seconds) counts as now: a countdown that short costs more (a
#: broker round trip) than the precision it buys.
_PROMPT = 0.005
#: Admission tolerance, in send intervals (a task that runs a little early still goes).
_TOLERANCE = 0.25
_ADAPT_PREFIX = "webexteams:adapt:"
_SENT_PREFIX = "webexteams:sent:"
#: The state outlives the last send by a day; afterwards the rate is learnt again.
_STATE_TTL = 86400


@dataclass(frozen=True)
class PaceConfig:
    """The adaptive pacing settings (``SEND_RATE_*``), read per call by :func:`pace_config`."""

    initial: float = 0.0  # req/s before anything is learnt; 0: unpaced until the first 429
    cap: float = 0.0  # never faster than this (req/s); 0: no cap
    decrease: float = 0.95
    increase: float = 0.0005
    window: float = 1.0
    minimum: float = 0.05


def pace_config() -> PaceConfig | None:
    """The adaptive pacing configuration, or ``None`` when ``SEND_RATE_ADAPTIVE`` is off."""
    if not conf.get("SEND_RATE_ADAPTIVE"):
        return None
    cap = 0.0
    fixed = conf.get("SEND_RATE_LIMIT")
    if fixed:
        count, period = float(fixed[0]), float(fixed[1])
        if count > 0 and period > 0:
            cap = count / period
    initial = conf.get("SEND_RATE_INITIAL")
    initial_rate = float(initial) if initial else cap
    if cap:
        initial_rate = min(initial_rate, cap)
    return PaceConfig(
        initial=initial_rate,
        cap=cap,
        decrease=min(1.0, max(0.1, float(conf.get("SEND_RATE_DECREASE")))),
        increase=max(0.0, float(conf.get("SEND_RATE_INCREASE"))),
        window=max(0.1, float(conf.get("SEND_RATE_WINDOW"))),
        minimum=max(0.001, float(conf.get("SEND_RATE_MIN"))),
    )


@dataclass(frozen=True)
class Ticket:
    """The answer of :func:`acquire`. ``wait`` 0.0: send now (admitted). Otherwise come back
    in ``wait`` seconds, at ``slot`` (pass ``token`` then). ``rate``: the pacing rate (0.0:
    not learnt yet, unpaced)."""

    wait: float
    slot: float
    rate: float

    @property
    def token(self) -> str:
        return f"{self.slot:.6f}"


def _parse_token(token: str | None) -> float | None:
    if not token:
        return None
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _rate_at(state: dict[str, Any], t: float, cfg: PaceConfig) -> float:
    base = float(state.get("base", 0.0))
    if base <= 0:
        return cfg.cap
    rate = base * (1.0 + cfg.increase * max(0.0, t - float(state.get("t0", t))))
    return min(rate, cfg.cap) if cfg.cap else rate


def _acquire(
    state: dict[str, Any], gate_until: float, held: float | None, now: float, cfg: PaceConfig
) -> tuple[bool, float, float]:
    """The admission step on a plain dict (the Python twin of ``_ACQUIRE_SCRIPT``): returns
    (admitted, slot, rate) and updates ``state``."""
    rate = _rate_at(state, max(now, gate_until), cfg)
    if now >= gate_until:
        tat = max(state.get("tat", 0.0), gate_until)
        if rate <= 0 or now >= tat - _TOLERANCE / rate - _PROMPT:
            if rate > 0:
                # A send up to the tolerance late keeps its place (the lateness of a Celery
                # countdown is not lost pace); later than that, the pace restarts from now.
                state["tat"] = max(tat, now - _TOLERANCE / rate) + 1.0 / rate
            sent = state.setdefault("sent", [])
            sent[:] = [*[t for t in sent if t > now - _HISTORY][-5000:], now]
            return True, now, rate
    elif rate <= 0:
        return False, gate_until, 0.0  # unpaced: wait for the gate, nothing to reserve
    if held is not None and held > now + _PROMPT and held >= gate_until:
        return False, held, rate  # woke early (a capped countdown): keep the slot
    tat = max(state.get("tat", 0.0), gate_until)
    slot = max(now, state.get("next", 0.0), tat - _TOLERANCE / rate, gate_until)
    state["next"] = slot + 1.0 / _rate_at(state, slot, cfg)
    return False, slot, rate


def _decrease(
    state: dict[str, Any],
    admitted: list[float],
    now: float,
    started: float,
    gate_until: float,
    retry_after: float,
    cfg: PaceConfig,
) -> None:
    """The 429 step on a plain dict (the Python twin of ``_DECREASE_SCRIPT``)."""
    recent = [t for t in admitted if now - _HISTORY < t < started]
    lower = min(recent) if recent else started
    if "dec" in state:
        if started < state["dec"]:
            return  # in flight before our last reaction: that one already counted it
        # Nothing else was sent since the last gate opened: Webex is still blocking (a
        # longer window than we saw), not telling us the pace is too fast. The gate waits.
        gate_end = float(state.get("t0", 0.0))
        if sum(1 for t in recent if t >= gate_end) <= 1:
            return
        lower = max(lower, gate_end)  # the gate's silence is not a rate
    # Sends admitted in the window before the refused one began (its own admission, just
    # before ``started``, excluded): what Webex accepted just before it said "too many".
    window = min(max(retry_after, cfg.window), _HISTORY, max(cfg.window, started - lower))
    count = max(0, sum(1 for t in recent if t > started - window) - 1)
    current = _rate_at(state, now, cfg)
    if count:
        observed = count / window
        new = cfg.decrease * (min(observed, current) if current > 0 else observed)
    else:
        new = cfg.decrease * current
    if current > 0:
        new = max(new, 0.5 * current)  # at most halve per 429
    if new > 0:
        new = max(new, cfg.minimum)
    state.update(base=new, t0=gate_until, dec=now, tat=gate_until, next=gate_until)


_LUA_RATE = """
local function rate_at(base, t0, t, cap, inc)
  if base <= 0 then return cap end
  local r = base * (1 + inc * math.max(0, t - t0))
  if cap > 0 and r > cap then r = cap end
  return r
end
"""

_ACQUIRE_SCRIPT = (
    _LUA_RATE
    + """
-- KEYS[1] state hash, KEYS[2] gate, KEYS[3] admissions (sorted set of times); ARGV: now,
-- held slot, initial, cap, increase, tolerance, prompt, ttl, member, history seconds
local now, held = tonumber(ARGV[1]), tonumber(ARGV[2])
local initial, cap, inc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tol, prompt = tonumber(ARGV[6]), tonumber(ARGV[7])
local gate = (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) / 1000
local s = redis.call('HMGET', KEYS[1], 'base', 't0', 'tat', 'next')
local base, t0 = tonumber(s[1]), tonumber(s[2])
local tat, nxt = tonumber(s[3]) or 0, tonumber(s[4]) or 0
if base == nil then
  base, t0 = initial, now
  redis.call('HSET', KEYS[1], 'base', tostring(base), 't0', tostring(t0))
end
redis.call('EXPIRE', KEYS[1], ARGV[8])
local rate = rate_at(base, t0, math.max(now, gate), cap, inc)
if tat < gate then tat = gate end
if now >= gate then
  if rate <= 0 or now >= tat - tol / rate - prompt then
    if rate > 0 then
      redis.call('HSET', KEYS[1], 'tat', tostring(math.max(tat, now - tol / rate) + 1 / rate))
    end
    local history = tonumber(ARGV[10])
    redis.call('ZADD', KEYS[3], now, ARGV[9])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - history)
    redis.call('PEXPIRE', KEYS[3], math.ceil(history * 1000) + 1000)
    return {1, tostring(now), tostring(rate)}
  end
elseif rate <= 0 then
  return {0, tostring(gate), '0'}
end
if held ~= nil and held > now + prompt and held >= gate then
  return {0, tostring(held), tostring(rate)}
end
local slot = math.max(now, nxt, tat - tol / rate, gate)
redis.call('HSET', KEYS[1], 'next', tostring(slot + 1 / rate_at(base, t0, slot, cap, inc)))
return {0, tostring(slot), tostring(rate)}
"""
)

_DECREASE_SCRIPT = (
    _LUA_RATE
    + """
-- KEYS[1] state hash, KEYS[2] history; ARGV: now, started, gate until, retry after,
-- initial, cap, increase, decrease, window, minimum, history seconds, ttl
local now, started, gate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local retry_after = tonumber(ARGV[4])
local initial, cap, inc = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local factor, win_min, minimum = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local history = tonumber(ARGV[11])
local s = redis.call('HMGET', KEYS[1], 'base', 't0', 'dec')
local base, t0, dec = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
if base == nil then base, t0 = initial, now end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - history)
local lower = started
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if oldest[2] ~= nil and tonumber(oldest[2]) < started then lower = tonumber(oldest[2]) end
if dec ~= nil then
  -- in flight before our last reaction: that one already counted it
  if started < dec then return 0 end
  -- nothing else sent since the last gate opened: still blocked, not too fast
  if redis.call('ZCOUNT', KEYS[2], t0, '(' .. tostring(started)) <= 1 then return 0 end
  if t0 > lower then lower = t0 end
end
local window = math.min(math.max(retry_after, win_min), history,
                        math.max(win_min, started - lower))
-- Admissions before the refused send began, its own (just before ``started``) excluded.
local count = redis.call('ZCOUNT', KEYS[2], '(' .. tostring(started - window),
                         '(' .. tostring(started)) - 1
if count < 0 then count = 0 end
local current = rate_at(base, t0, now, cap, inc)
local new
if count > 0 then
  local observed = count / window
  if current > 0 and current < observed then observed = current end
  new = factor * observed
else
  new = factor * current
end
if current > 0 and new < 0.5 * current then new = 0.5 * current end
if new > 0 and new < minimum then new = minimum end
redis.call('HSET', KEYS[1], 'base', tostring(new), 't0', tostring(gate), 'dec', tostring(now),
           'tat', tostring(gate), 'next', tostring(gate))
redis.call('EXPIRE', KEYS[1], ARGV[12])
return 1
"""
)


def _gate_until(cache: BaseCache, key: str) -> float:
    value: Any = cache.get(_GATE_PREFIX + key)
    return int(value) / 1000 if value is not None else 0.0


def _fallback_state(cache: BaseCache, key: str, now: float, cfg: PaceConfig) -> dict[str, Any]:
    state: Any = cache.get(_ADAPT_PREFIX + key)
    if not isinstance(state, dict):
        state = {"base": cfg.initial, "t0": now, "sent": []}
    return dict(state)


def acquire(key: str, token: str | None = None, *, now: float | None = None) -> Ticket:
    """Ask to send for ``key`` now. Admitted: ``ticket.wait == 0``. Refused (the gate is
    closed, or the pace would be exceeded): come back in ``ticket.wait`` seconds with
    ``ticket.token`` (a spread-out wake-up slot; a task that comes back early keeps it).

    On Django's ``RedisCache`` this is one atomic Lua script, so concurrent workers never
    exceed the pace together. Other caches run the same steps as read-modify-write:
    concurrent sends may then both be admitted (a small burst, at worst one more 429).
    """
    cfg = pace_config() or PaceConfig()
    now = time.time() if now is None else now
    held = _parse_token(token)
    cache = gate_cache()
    client = _redis_client(cache)
    if client is not None:
        admitted, slot_s, rate_s = client.eval(
            _ACQUIRE_SCRIPT, 3,
            cache.make_and_validate_key(_ADAPT_PREFIX + key),
            cache.make_and_validate_key(_GATE_PREFIX + key),
            cache.make_and_validate_key(_SENT_PREFIX + key),
            now, "" if held is None else held,
            cfg.initial, cfg.cap, cfg.increase, _TOLERANCE, _PROMPT, _STATE_TTL,
            f"{now:.6f}:{random.getrandbits(32):08x}", _HISTORY,
        )  # fmt: skip
        ok, slot, rate = bool(admitted), float(slot_s), float(rate_s)
    else:
        state = _fallback_state(cache, key, now, cfg)
        ok, slot, rate = _acquire(state, _gate_until(cache, key), held, now, cfg)
        cache.set(_ADAPT_PREFIX + key, state, timeout=_STATE_TTL)
    if ok:
        return Ticket(wait=0.0, slot=now, rate=rate)
    return Ticket(wait=max(slot - now, _PROMPT), slot=slot, rate=rate)


def record_429(key: str, retry_after: float, *, started: float, now: float | None = None) -> float:
    """A send that began at ``started`` got a 429 with ``retry_after``: close the gate (as
    :func:`block`) and, unless that request was already in flight when the rate was last
    lowered, lower the rate to ``SEND_RATE_DECREASE`` times the rate achieved just before
    (sends admitted in the ``max(SEND_RATE_WINDOW, Retry-After)`` seconds, at most 60,
    before ``started``).
    Returns the gate's end."""
    now = time.time() if now is None else now
    until = block(key, retry_after, now=now)
    cfg = pace_config() or PaceConfig()
    cache = gate_cache()
    client = _redis_client(cache)
    if client is not None:
        client.eval(
            _DECREASE_SCRIPT, 2,
            cache.make_and_validate_key(_ADAPT_PREFIX + key),
            cache.make_and_validate_key(_SENT_PREFIX + key),
            now, started, until, max(0.0, float(retry_after)),
            cfg.initial, cfg.cap, cfg.increase, cfg.decrease, cfg.window, cfg.minimum,
            _HISTORY, _STATE_TTL,
        )  # fmt: skip
        return until
    state = _fallback_state(cache, key, now, cfg)
    _decrease(state, state["sent"], now, started, until, max(0.0, float(retry_after)), cfg)
    cache.set(_ADAPT_PREFIX + key, state, timeout=_STATE_TTL)
    return until


def current_rate(key: str, *, now: float | None = None) -> float:
    """The pacing rate for ``key`` at ``now`` (req/s; 0.0: not learnt yet). For monitoring
    and tests."""
    cfg = pace_config() or PaceConfig()
    now = time.time() if now is None else now
    cache = gate_cache()
    client = _redis_client(cache)
    if client is not None:
        raw = client.hgetall(cache.make_and_validate_key(_ADAPT_PREFIX + key))
        if not raw:
            return cfg.initial
        state = {k.decode(): float(v) for k, v in raw.items()}
    else:
        state = _fallback_state(cache, key, now, cfg)
    return _rate_at(state, now, cfg)


def forget(key: str) -> None:
    """Drop what was learnt for ``key`` (its rate, admissions, slots and history)."""
    gate_cache().delete_many([_ADAPT_PREFIX + key, _SENT_PREFIX + key])
