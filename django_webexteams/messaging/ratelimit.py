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
    "learnt_rate",
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
    """Lift the gate for ``key`` and forget everything learnt (as :func:`forget`: the learnt
    rate too, so the next send is unpaced until a 429 again); for tests, or staff who know
    better."""
    gate_cache().delete_many([_GATE_PREFIX + key, *_learnt_keys(key)])


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
# Per credential, two things in the shared cache:
#
# The *learnt rate* (``webexteams:learnt:<key>``, a Redis hash or one cache entry, kept
# ``_LEARNT_TTL`` = 30 days, rewritten on every decrease): ``base``, the rate the last 429 set,
# and ``wmax``, the level the growth levels off at (0.975 of the rate that 429 met). It
# outlives the pacing state below, so a burst that starts after a quiet spell (a new pacing
# state) starts paced at what was learnt, instead of unpaced into the first 429. Only
# :func:`forget`/:func:`unblock` drop it.
#
# The *pacing state* (``webexteams:adapt:<key>``), which lives while the credential sends: it
# expires ``_STATE_IDLE`` seconds after the last admission request (later when the gate or a
# reserved slot reaches further). A new state starts from the learnt rate (``base``/``wmax``
# from it, ``t0`` = now), or from ``SEND_RATE_INITIAL``/the ``SEND_RATE_LIMIT`` ceiling when
# nothing was learnt (``base`` 0: unpaced, the gate alone holds sends back).
#
# - ``base``/``wmax``/``t0``: the rate at time ``t`` grows as TCP CUBIC's window (RFC 9438):
#   ``wmax * (1 + c * (t - t0 - K)**3)`` with ``K = cbrt((1 - base / wmax) / c)``: it starts
#   at ``base`` at ``t0`` (the gate's end after the decrease), climbs back towards ``wmax`` (the
#   rate the 429 met) ever more slowly, is flat there at ``t0 + K``, then accelerates away from
#   it: careful near the rate that was refused, fast once that rate is passed. ``c`` follows
#   from ``SEND_RATE_PROBE_SECONDS`` (``P``): after the usual decrease (``base / wmax`` =
#   ``SEND_RATE_DECREASE`` = ``beta``) the rate is twice ``wmax`` at ``t0 + P``, so
#   ``c = ((1 + cbrt(1 - beta)) / P)**3`` (P = 50 s, beta = 0.95: c = 2.0e-5, K = 13.5 s).
#   ``P`` 0: no growth, the rate stays at ``base``. The ``SEND_RATE_LIMIT`` ceiling caps it.
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
# - recent admissions (times), kept for ``_HISTORY`` seconds: on a 429 the rate it met is
#   ``wmax = min(admissions per second just before the refused send began, current rate)``
#   (what Webex accepted until it said "too many"; never reaching back before ``t0``, the
#   state's start or the last gate's end) and the new rate ``base = decrease * wmax``.
#   ``wmax`` then becomes ``(1 + decrease) / 2`` of it (CUBIC's fast convergence, which TCP
#   applies only when the limit fell; here after every 429, because a 429 costs every worker
#   a whole ``Retry-After``): the growth levels off below the rate just refused instead of
#   at it, and only the convex probe beyond it meets the limit again. The first 429 after
#   unpaced sending takes the burst's count, an upper bound, down by that factor first.
#   (Admission times, not response times: a success is only known a round trip later, which
#   would undercount the window.) ``ref``/``cnt``/``win``: the refused send's start, the count
#   and the window of that measurement. A later 429 for a send that began inside that window
#   before ``ref`` was counted there as accepted: both rates shrink by ``(cnt - 1) / cnt``
#   (this matters after an unpaced burst, when several requests were in flight at once).

#: How long the admission history reaches back (seconds): the longest window a 429 measures.
_HISTORY = 60.0
#: A slot this close to now (seconds) counts as now: a countdown that short costs more (a
#: broker round trip) than the precision it buys.
_PROMPT = 0.005
#: Admission tolerance, in send intervals (a task that runs a little early still goes).
_TOLERANCE = 0.25
_ADAPT_PREFIX = "webexteams:adapt:"
_SENT_PREFIX = "webexteams:sent:"
_LEARNT_PREFIX = "webexteams:learnt:"
#: The pacing state expires this many seconds after the credential last asked to send (or
#: after the gate's end / the last reserved slot, when later): a burst after a quiet spell
#: starts a new state from the learnt rate, not from slots and growth of the past.
_STATE_IDLE = 10.0
#: The learnt rate is kept this long after the last 429 that set it (30 days).
_LEARNT_TTL = 30 * 86400


def cubic_constant(probe_seconds: float, decrease: float) -> float:
    """CUBIC's ``c`` for which, after a decrease to ``decrease * wmax``, the rate reaches
    ``2 * wmax`` after ``probe_seconds`` (0.0: no growth)."""
    if probe_seconds <= 0:
        return 0.0
    return float(((1.0 + (1.0 - decrease) ** (1.0 / 3.0)) / probe_seconds) ** 3)


@dataclass(frozen=True)
class PaceConfig:
    """The adaptive pacing settings (``SEND_RATE_*``), read per call by :func:`pace_config`.
    ``cubic``: CUBIC's constant ``c`` (from ``SEND_RATE_PROBE_SECONDS``; 0: no growth)."""

    initial: float = 0.0  # req/s before anything is learnt; 0: unpaced until the first 429
    cap: float = 0.0  # never faster than this (req/s); 0: no cap
    decrease: float = 0.95
    cubic: float = cubic_constant(50.0, 0.95)
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
    decrease = min(1.0, max(0.1, float(conf.get("SEND_RATE_DECREASE"))))
    probe = conf.get("SEND_RATE_PROBE_SECONDS")
    return PaceConfig(
        initial=initial_rate,
        cap=cap,
        decrease=decrease,
        cubic=cubic_constant(max(0.0, float(probe or 0)), decrease),
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


def _cubic(base: float, wmax: float, elapsed: float, c: float) -> float:
    """CUBIC's rate ``elapsed`` seconds after a decrease from ``wmax`` to ``base``."""
    if c <= 0:
        return base
    wmax = max(wmax, base)
    k: float = ((1.0 - base / wmax) / c) ** (1.0 / 3.0)
    d = max(0.0, elapsed) - k
    return wmax * (1.0 + c * d * d * d)


def _rate_at(state: dict[str, Any], t: float, cfg: PaceConfig) -> float:
    base = float(state.get("base", 0.0))
    if base <= 0:
        return cfg.cap
    wmax = float(state.get("wmax", base))
    rate = _cubic(base, wmax, t - float(state.get("t0", t)), cfg.cubic)
    return min(rate, cfg.cap) if cfg.cap else rate


def _seed(learnt: Any, now: float, cfg: PaceConfig) -> dict[str, Any]:
    """A new pacing state: from the learnt rate when there is one, else the initial rate."""
    if isinstance(learnt, dict) and float(learnt.get("base", 0.0)) > 0:
        base = float(learnt["base"])
        wmax = float(learnt.get("wmax", base))
    else:
        base = wmax = cfg.initial
    return {"base": base, "wmax": wmax, "t0": now, "sent": []}


def _state_timeout(state: dict[str, Any], gate_until: float, now: float) -> float:
    """Seconds the pacing state is kept: ``_STATE_IDLE`` past now, the gate's end or the last
    reserved slot, whichever is latest."""
    return _STATE_IDLE + max(0.0, max(gate_until, float(state.get("next", 0.0))) - now)


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
) -> dict[str, float] | None:
    """The 429 step on a plain dict (the Python twin of ``_DECREASE_SCRIPT``). Returns the
    new learnt rate (``base``, ``wmax``), or ``None`` when the rate stays."""
    recent = [t for t in admitted if now - _HISTORY < t < started]
    lower = min(recent) if recent else started
    if "dec" in state:
        if started < state["dec"]:
            # In flight before our last reaction: it does not lower the rate again, but when
            # it began before the refused send that did, it was counted there as accepted.
            return _discount(state, started, cfg)
        # Nothing else was sent since the last gate opened: Webex is still blocking (a
        # longer window than we saw), not telling us the pace is too fast. The gate waits.
        gate_end = float(state.get("t0", 0.0))
        if sum(1 for t in recent if t >= gate_end) <= 1:
            return None
    # The gate's silence is not a rate, nor is the time before this state began.
    lower = max(lower, float(state.get("t0", lower)))
    # Sends admitted in the window before the refused one began (its own admission, just
    # before ``started``, excluded): what Webex accepted just before it said "too many".
    window = min(max(retry_after, cfg.window), _HISTORY, max(cfg.window, started - lower))
    count = max(0, sum(1 for t in recent if t > started - window) - 1)
    current = _rate_at(state, now, cfg)
    if count:
        observed = count / window
        wmax = min(observed, current) if current > 0 else observed
    else:
        wmax = current
    if float(state.get("base", 0.0)) <= 0 < wmax:
        # Unpaced until this 429: the burst's count is an upper bound (requests in flight,
        # the limit's whole window at once), as a wmax found too high: CUBIC's fast
        # convergence (below) from the start.
        wmax *= (1.0 + cfg.decrease) / 2.0
    new = lowered = cfg.decrease * wmax
    previous = float(state.get("wmax", state.get("base", 0.0)))
    if wmax > 0 and float(state.get("base", 0.0)) > 0:
        # Level off below the rate refused, after every paced 429 (CUBIC's fast convergence,
        # which TCP applies only when the limit fell): hovering at the refused rate meets the
        # next 429 within seconds, and each costs every worker a whole Retry-After.
        wmax *= (1.0 + cfg.decrease) / 2.0
    # At most halve per 429 (a window that caught a lull underestimates), relative to the
    # current rate, or to the rate the previous 429 met when probing went far past it.
    reference = min(current, previous) if previous > 0 else current
    if reference > 0:
        new = max(new, 0.5 * reference)
    if new > 0:
        new = max(new, cfg.minimum)
        if new > lowered:  # a floor held it up: as if the 429 had met new / decrease
            wmax = max(wmax, new / cfg.decrease)
    state.update(base=new, wmax=wmax, t0=gate_until, dec=now, tat=gate_until, next=gate_until,
                 ref=started, cnt=count, win=window)  # fmt: skip
    return {"base": new, "wmax": wmax} if new > 0 else None


def _discount(state: dict[str, Any], started: float, cfg: PaceConfig) -> dict[str, float] | None:
    """A 429 for a send that began inside the window the last decrease measured, before the
    refused send it measured for: that decrease counted it as accepted. Take it out (both
    rates scaled by (count - 1) / count). Returns the new learnt rate, or ``None``."""
    ref, count, window = state.get("ref"), int(state.get("cnt", 0)), state.get("win", 0.0)
    if ref is None or count <= 1 or not (ref - window < started < ref):
        return None
    factor = (count - 1) / count
    base = max(float(state["base"]) * factor, cfg.minimum)
    wmax = max(float(state.get("wmax", base)) * factor, base)
    state.update(base=base, wmax=wmax, cnt=count - 1)
    return {"base": base, "wmax": wmax}


_LUA_RATE = """
local function rate_at(base, wmax, t0, t, cap, c)
  if base <= 0 then return cap end
  local r = base
  if c > 0 then
    if wmax == nil or wmax < base then wmax = base end
    local k = ((1 - base / wmax) / c) ^ (1 / 3)
    local d = math.max(0, t - t0) - k
    r = wmax * (1 + c * d * d * d)
  end
  if cap > 0 and r > cap then r = cap end
  return r
end
-- A new pacing state: the learnt rate (hash KEYS[n]: base, wmax) or the initial rate.
local function seed(learnt_key, initial)
  local l = redis.call('HMGET', learnt_key, 'base', 'wmax')
  local b = tonumber(l[1])
  if b ~= nil and b > 0 then return b, (tonumber(l[2]) or b) end
  return initial, initial
end
"""

_ACQUIRE_SCRIPT = (
    _LUA_RATE
    + """
-- KEYS[1] state hash, KEYS[2] gate, KEYS[3] admissions (sorted set of times), KEYS[4] learnt
-- rate; ARGV: now, held slot, initial, cap, cubic c, tolerance, prompt, idle seconds, member,
-- history seconds
local now, held = tonumber(ARGV[1]), tonumber(ARGV[2])
local initial, cap, c = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tol, prompt = tonumber(ARGV[6]), tonumber(ARGV[7])
local gate = (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) / 1000
local s = redis.call('HMGET', KEYS[1], 'base', 't0', 'tat', 'next', 'wmax')
local base, t0, wmax = tonumber(s[1]), tonumber(s[2]), tonumber(s[5])
local tat, nxt = tonumber(s[3]) or 0, tonumber(s[4]) or 0
if base == nil then
  base, wmax = seed(KEYS[4], initial)
  t0 = now
  redis.call('HSET', KEYS[1], 'base', tostring(base), 'wmax', tostring(wmax), 't0', tostring(t0))
end
local function keep(last)
  local ttl = tonumber(ARGV[8]) + math.max(0, math.max(gate, last) - now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000))
end
local rate = rate_at(base, wmax, t0, math.max(now, gate), cap, c)
if tat < gate then tat = gate end
if now >= gate then
  if rate <= 0 or now >= tat - tol / rate - prompt then
    if rate > 0 then
      redis.call('HSET', KEYS[1], 'tat', tostring(math.max(tat, now - tol / rate) + 1 / rate))
    end
    keep(nxt)
    local history = tonumber(ARGV[10])
    redis.call('ZADD', KEYS[3], now, ARGV[9])
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - history)
    redis.call('PEXPIRE', KEYS[3], math.ceil(history * 1000) + 1000)
    return {1, tostring(now), tostring(rate)}
  end
elseif rate <= 0 then
  keep(nxt)
  return {0, tostring(gate), '0'}
end
if held ~= nil and held > now + prompt and held >= gate then
  keep(nxt)
  return {0, tostring(held), tostring(rate)}
end
local slot = math.max(now, nxt, tat - tol / rate, gate)
local after = slot + 1 / rate_at(base, wmax, t0, slot, cap, c)
redis.call('HSET', KEYS[1], 'next', tostring(after))
keep(after)
return {0, tostring(slot), tostring(rate)}
"""
)

_DECREASE_SCRIPT = (
    _LUA_RATE
    + """
-- KEYS[1] state hash, KEYS[2] history, KEYS[3] learnt rate; ARGV: now, started, gate until,
-- retry after, initial, cap, cubic c, decrease, window, minimum, history seconds, idle
-- seconds, learnt ttl
local now, started, gate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local retry_after = tonumber(ARGV[4])
local initial, cap, c = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local factor, win_min, minimum = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local history = tonumber(ARGV[11])
local s = redis.call('HMGET', KEYS[1], 'base', 't0', 'dec', 'wmax')
local base, t0, dec, wmax = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
if base == nil then
  base, wmax = seed(KEYS[3], initial)
  t0 = now
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - history)
local lower = started
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if oldest[2] ~= nil and tonumber(oldest[2]) < started then lower = tonumber(oldest[2]) end
if dec ~= nil then
  -- in flight before our last reaction: it does not lower the rate again, but when it began
  -- before the refused send that did, it was counted there as accepted: take it out
  if started < dec then
    local d = redis.call('HMGET', KEYS[1], 'ref', 'cnt', 'win')
    local ref, cnt, win = tonumber(d[1]), tonumber(d[2]) or 0, tonumber(d[3]) or 0
    if ref == nil or cnt <= 1 or not (started > ref - win and started < ref) then return 0 end
    local f = (cnt - 1) / cnt
    local nb = base * f
    if nb < minimum then nb = minimum end
    local nw = (wmax or base) * f
    if nw < nb then nw = nb end
    redis.call('HSET', KEYS[1], 'base', tostring(nb), 'wmax', tostring(nw),
               'cnt', tostring(cnt - 1))
    redis.call('HSET', KEYS[3], 'base', tostring(nb), 'wmax', tostring(nw))
    redis.call('EXPIRE', KEYS[3], ARGV[13])
    return 1
  end
  -- nothing else sent since the last gate opened: still blocked, not too fast
  if redis.call('ZCOUNT', KEYS[2], t0, '(' .. tostring(started)) <= 1 then return 0 end
end
-- the gate's silence is not a rate, nor is the time before this state began
if t0 > lower then lower = t0 end
local window = math.min(math.max(retry_after, win_min), history,
                        math.max(win_min, started - lower))
-- Admissions before the refused send began, its own (just before ``started``) excluded.
local count = redis.call('ZCOUNT', KEYS[2], '(' .. tostring(started - window),
                         '(' .. tostring(started)) - 1
if count < 0 then count = 0 end
local current = rate_at(base, wmax, t0, now, cap, c)
local met
if count > 0 then
  met = count / window
  if current > 0 and current < met then met = current end
else
  met = current
end
-- unpaced until this 429: the burst's count is an upper bound, as a wmax found too high
if base <= 0 and met > 0 then met = met * (1 + factor) / 2 end
local new = factor * met
local lowered = new
local previous = wmax or base
-- level off below the rate refused after every paced 429 (CUBIC's fast convergence, always)
if met > 0 and base > 0 then met = met * (1 + factor) / 2 end
-- at most halve per 429, relative to the current rate or the rate the previous 429 met
local reference = current
if previous > 0 and previous < current then reference = previous end
if reference > 0 and new < 0.5 * reference then new = 0.5 * reference end
if new > 0 then
  if new < minimum then new = minimum end
  -- a floor held it up: as if the 429 had met new / decrease
  if new > lowered and met < new / factor then met = new / factor end
end
redis.call('HSET', KEYS[1], 'base', tostring(new), 'wmax', tostring(met), 't0', tostring(gate),
           'dec', tostring(now), 'tat', tostring(gate), 'next', tostring(gate),
           'ref', tostring(started), 'cnt', tostring(count), 'win', tostring(window))
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[12]) + math.max(0, gate - now)) * 1000))
if new > 0 then
  redis.call('HSET', KEYS[3], 'base', tostring(new), 'wmax', tostring(met))
  redis.call('EXPIRE', KEYS[3], ARGV[13])
end
return 1
"""
)


def _gate_until(cache: BaseCache, key: str) -> float:
    value: Any = cache.get(_GATE_PREFIX + key)
    return int(value) / 1000 if value is not None else 0.0


def _fallback_state(cache: BaseCache, key: str, now: float, cfg: PaceConfig) -> dict[str, Any]:
    state: Any = cache.get(_ADAPT_PREFIX + key)
    if not isinstance(state, dict):
        state = _seed(cache.get(_LEARNT_PREFIX + key), now, cfg)
    return dict(state)


def _save_state(
    cache: BaseCache, key: str, state: dict[str, Any], gate_until: float, now: float
) -> None:
    timeout = _state_timeout(state, gate_until, now)
    cache.set(_ADAPT_PREFIX + key, state, timeout=max(1, math.ceil(timeout)))


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
            _ACQUIRE_SCRIPT, 4,
            cache.make_and_validate_key(_ADAPT_PREFIX + key),
            cache.make_and_validate_key(_GATE_PREFIX + key),
            cache.make_and_validate_key(_SENT_PREFIX + key),
            cache.make_and_validate_key(_LEARNT_PREFIX + key),
            now, "" if held is None else held,
            cfg.initial, cfg.cap, cfg.cubic, _TOLERANCE, _PROMPT, _STATE_IDLE,
            f"{now:.6f}:{random.getrandbits(32):08x}", _HISTORY,
        )  # fmt: skip
        ok, slot, rate = bool(admitted), float(slot_s), float(rate_s)
    else:
        state = _fallback_state(cache, key, now, cfg)
        gate_until = _gate_until(cache, key)
        ok, slot, rate = _acquire(state, gate_until, held, now, cfg)
        _save_state(cache, key, state, gate_until, now)
    if ok:
        return Ticket(wait=0.0, slot=now, rate=rate)
    return Ticket(wait=max(slot - now, _PROMPT), slot=slot, rate=rate)


def record_429(key: str, retry_after: float, *, started: float, now: float | None = None) -> float:
    """A send that began at ``started`` got a 429 with ``retry_after``: close the gate (as
    :func:`block`) and, unless that request was already in flight when the rate was last
    lowered, lower the rate to ``SEND_RATE_DECREASE`` times the rate achieved just before
    (sends admitted in the ``max(SEND_RATE_WINDOW, Retry-After)`` seconds, at most 60,
    before ``started``), and keep that as the learnt rate (30 days).
    Returns the gate's end."""
    now = time.time() if now is None else now
    until = block(key, retry_after, now=now)
    cfg = pace_config() or PaceConfig()
    cache = gate_cache()
    client = _redis_client(cache)
    if client is not None:
        client.eval(
            _DECREASE_SCRIPT, 3,
            cache.make_and_validate_key(_ADAPT_PREFIX + key),
            cache.make_and_validate_key(_SENT_PREFIX + key),
            cache.make_and_validate_key(_LEARNT_PREFIX + key),
            now, started, until, max(0.0, float(retry_after)),
            cfg.initial, cfg.cap, cfg.cubic, cfg.decrease, cfg.window, cfg.minimum,
            _HISTORY, _STATE_IDLE, _LEARNT_TTL,
        )  # fmt: skip
        return until
    state = _fallback_state(cache, key, now, cfg)
    learnt = _decrease(state, state["sent"], now, started, until, max(0.0, float(retry_after)), cfg)
    _save_state(cache, key, state, until, now)
    if learnt is not None:
        cache.set(_LEARNT_PREFIX + key, learnt, timeout=_LEARNT_TTL)
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
            learnt = client.hgetall(cache.make_and_validate_key(_LEARNT_PREFIX + key))
            seeded = {k.decode(): float(v) for k, v in learnt.items()} if learnt else None
            return _rate_at(_seed(seeded, now, cfg), now, cfg)
        state = {k.decode(): float(v) for k, v in raw.items()}
    else:
        state = _fallback_state(cache, key, now, cfg)
    return _rate_at(state, now, cfg)


def learnt_rate(key: str) -> tuple[float, float] | None:
    """The learnt rate kept for ``key`` (``base``: the rate the last 429 set, ``wmax``: the
    level the growth levels off at, below the rate it met; req/s), or ``None`` when nothing
    was learnt. For monitoring and tests."""
    cache = gate_cache()
    client = _redis_client(cache)
    if client is not None:
        base, wmax = client.hmget(cache.make_and_validate_key(_LEARNT_PREFIX + key), "base", "wmax")
        if base is None:
            return None
        return float(base), float(wmax if wmax is not None else base)
    value: Any = cache.get(_LEARNT_PREFIX + key)
    if not isinstance(value, dict):
        return None
    learnt: dict[str, float] = value
    return float(learnt["base"]), float(learnt.get("wmax", learnt["base"]))


def forget(key: str) -> None:
    """Drop what was learnt for ``key``: its learnt rate, the pacing state (admissions,
    slots) and the history. The next send starts as if the credential were new."""
    gate_cache().delete_many(_learnt_keys(key))


def _learnt_keys(key: str) -> list[str]:
    return [_ADAPT_PREFIX + key, _SENT_PREFIX + key, _LEARNT_PREFIX + key]
