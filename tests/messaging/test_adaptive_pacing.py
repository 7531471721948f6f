"""Adaptive pacing (django_webexteams.ratelimit.acquire / record_429): the
per-credential rate learnt from 429s, on locmem (the Python fallback) and on the real Redis
(the Lua scripts), with an injected clock (``now=``)."""

from __future__ import annotations

import itertools
import threading
import uuid
from typing import Any

import pytest

from django_webexteams import messaging
from django_webexteams.clients import rate_limit_key
from django_webexteams.messaging import ratelimit
from django_webexteams.models import OutboundMessage
from tests.conftest import redis_url

T = 1_000_000.0  # an arbitrary clock origin
#: The first 429 after unpaced sending takes the burst's count as an upper bound: the rate it
#: met is (1 + 0.95) / 2 of the count (CUBIC's fast convergence from the start).
COLD = (1 + 0.95) / 2


def _cache(backend: str) -> dict[str, Any]:
    if backend == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": uuid.uuid4().hex}  # fmt: skip
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url(13), "KEY_PREFIX": f"p{uuid.uuid4().hex[:8]}"}  # fmt: skip


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def key(request: Any, settings: Any) -> str:
    """A fresh pacing cache (locmem or Redis) and a unique credential key."""
    settings.CACHES = {**settings.CACHES, "pace": _cache(request.param)}
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "pace"}
    return f"webexteams:bot:{uuid.uuid4().hex[:16]}"


def learn(key: str, sends: int, *, span: float = 0.5, at: float = T) -> float:
    """``sends`` admitted (unpaced) evenly over ``span`` seconds from ``at``, then one more
    that gets a 429 with Retry-After 1; returns the 429's time."""
    for i in range(sends):
        assert ratelimit.acquire(key, now=at + span * i / sends).wait == 0.0
    started = at + span + 0.005
    assert ratelimit.acquire(key, now=started - 0.001).wait == 0.0
    now = started + 0.005
    ratelimit.record_429(key, 1, started=started, now=now)
    return now


def test_unpaced_until_the_first_429(key: str) -> None:
    tickets = [ratelimit.acquire(key, now=T) for _ in range(50)]
    assert all(t.wait == 0.0 and t.rate == 0.0 for t in tickets)
    assert ratelimit.current_rate(key, now=T) == 0.0


def test_initial_rate_admits_one_and_spreads_the_others(key: str, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_INITIAL": 10}
    tickets = [ratelimit.acquire(key, now=T) for _ in range(5)]
    assert tickets[0].wait == 0.0  # admitted
    # The others get wake-up slots one interval apart (half an interval early for the first:
    # a quarter interval of admission tolerance, and a quarter the first send may bank).
    assert [t.wait for t in tickets[1:]] == pytest.approx([0.05, 0.15, 0.25, 0.35], abs=1e-3)
    # Each is admitted when it comes back at its slot.
    for t in tickets[1:]:
        assert ratelimit.acquire(key, t.token, now=t.slot).wait == 0.0


def test_a_429_sets_the_rate_just_below_what_was_achieved(key: str) -> None:
    now = learn(key, 25)
    # The gate is closed for Retry-After...
    assert ratelimit.blocked_for(key, now=now) == pytest.approx(1.0, abs=1e-3)
    # ...and afterwards sends go at 0.95 x the rate it met (25/s counted, unpaced: taken as
    # an upper bound), the first one at the gate's end.
    rate = ratelimit.current_rate(key, now=now + 1.0)
    assert rate == pytest.approx(0.95 * COLD * 25, rel=1e-3)
    slots = [ratelimit.acquire(key, now=now).slot for _ in range(4)]
    assert slots[0] == pytest.approx(now + 1.0, abs=1e-3)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert gaps == pytest.approx([1 / rate] * 3, rel=1e-2)
    assert ratelimit.acquire(key, now=now + 0.5).wait > 0  # nobody goes while it is closed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_late_and_shuffled_tasks_never_exceed_the_pace(key: str, settings: Any, seed: int) -> None:
    """The guarantee: whatever order and lateness tasks run in (a busy queue, a slow worker),
    any one-second interval admits at most rate + 1.35 sends, and every task gets through."""
    import random

    rnd = random.Random(seed)
    rate = 20.0
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_INITIAL": rate,
                           "SEND_RATE_PROBE_SECONDS": 0}  # fmt: skip
    # (time it runs, task, token): 100 tasks arriving in a clump, then coming back late.
    pending: list[tuple[float, int, str | None]] = [
        (T + rnd.uniform(0, 0.5), i, None) for i in range(100)
    ]
    admitted: list[float] = []
    steps = 0
    while pending and steps < 10_000:
        steps += 1
        pending.sort()
        at, task, token = pending.pop(0)
        ticket = ratelimit.acquire(key, token, now=at)
        if ticket.wait == 0.0:
            admitted.append(at)
        else:  # comes back at its slot, up to 0.3 s late
            pending.append((ticket.slot + rnd.uniform(0, 0.3), task, ticket.token))
    assert len(admitted) == 100
    admitted.sort()
    busiest = max(sum(1 for t in admitted if start <= t < start + 1.0) for start in admitted)
    assert busiest <= rate + 1.35  # + 0.25 interval tolerance + 5 ms
    # ...and lateness does not waste much of the pace either.
    assert admitted[-1] - admitted[0] < 2 * 100 / rate


def test_requests_in_flight_before_the_decrease_do_not_lower_it_again(key: str) -> None:
    now = learn(key, 25)
    assert ratelimit.current_rate(key, now=now + 1) == pytest.approx(0.95 * COLD * 25, rel=1e-6)
    # Three more 429s for requests that had started before the first one was handled. They
    # do not lower the rate as 429s again, but each began before the refused send that did,
    # so that decrease counted it as accepted: it is taken out (25 -> 22 accepted).
    for i in range(3):
        ratelimit.record_429(key, 1, started=now - 0.05, now=now + 0.01 * (i + 1))
    rate = ratelimit.current_rate(key, now=now + 1)
    assert rate == pytest.approx(0.95 * COLD * 22, rel=1e-6)
    assert ratelimit.learnt_rate(key) == pytest.approx((0.95 * COLD * 22, COLD * 22), rel=1e-6)
    # One that began after the refused send (not counted there): nothing changes.
    ratelimit.record_429(key, 1, started=now - 0.003, now=now + 0.04)
    assert ratelimit.current_rate(key, now=now + 1) == pytest.approx(rate, rel=1e-6)
    # The first send after the gate refused again: Webex is still blocking (its window is
    # longer than we saw), which says nothing about the pace: the gate waits, the rate stays.
    gate_end = now + 1.04  # the in-flight 429s above extended the gate a little
    assert ratelimit.acquire(key, now=gate_end).wait == 0.0
    probing = ratelimit.current_rate(key, now=gate_end + 2)  # growing since the gate's end
    ratelimit.record_429(key, 1, started=gate_end + 0.001, now=gate_end + 0.01)
    assert ratelimit.current_rate(key, now=gate_end + 2) == pytest.approx(probing, rel=1e-6)
    assert ratelimit.blocked_for(key, now=gate_end + 0.5) > 0.4
    # Sends went through after the gate, then a 429: that one lowers the rate (at most by
    # half per 429).
    later = gate_end + 1.01
    for i in range(10):
        assert ratelimit.acquire(key, now=later + i / rate).wait == 0.0
    last = later + 10 / rate
    assert ratelimit.acquire(key, now=last).wait == 0.0
    ratelimit.record_429(key, 1, started=last + 0.001, now=last + 0.01)
    lowered = ratelimit.current_rate(key, now=last + 2)
    assert 0.5 * rate <= lowered < rate


def test_paced_decrease_never_exceeds_the_current_rate(key: str, settings: Any) -> None:
    # 30 sends admitted within a second while unpaced; then the pace becomes 10/s (here: a
    # fixed ceiling) before a 429: the new rate derives from 10/s, the lower of the two.
    for i in range(31):
        assert ratelimit.acquire(key, now=T + i * 0.03).wait == 0.0
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_LIMIT": (10, 1.0)}
    ratelimit.record_429(key, 1, started=T + 0.901, now=T + 0.91)
    assert ratelimit.current_rate(key, now=T + 1.91) == pytest.approx(0.95 * COLD * 10, rel=1e-3)


def test_a_429_without_admissions_keeps_unpaced_or_lowers_the_pace(key: str, settings: Any) -> None:
    ratelimit.record_429(key, 1, started=T, now=T)
    assert ratelimit.current_rate(key, now=T + 2) == 0.0  # nothing to learn from
    other = key + "-b"
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_INITIAL": 4}
    ratelimit.record_429(other, 1, started=T, now=T)
    assert ratelimit.current_rate(other, now=T + 1) == pytest.approx(3.8, rel=1e-3)


def test_the_rate_returns_to_the_refused_rate_by_k_then_accelerates(key: str) -> None:
    """CUBIC: from 0.95 x the rate the 429 met (wmax, 25/s here) back to wmax by K, flat
    there, then ever faster away from it."""
    now = learn(key, 25)
    t0 = now + 1.0  # the gate's end: growth starts there
    c = ratelimit.cubic_constant(50.0, 0.95)
    k = (0.05 / c) ** (1 / 3)
    assert 13 < k < 14
    rates = [ratelimit.current_rate(key, now=t0 + t) for t in (0, k / 2, k, k + 5, k + 20)]
    assert rates[0] == pytest.approx(0.95 * COLD * 25, rel=1e-3)
    assert rates[2] == pytest.approx(COLD * 25, rel=1e-3)
    assert rates == sorted(rates)
    # Concave before K (most of the way back in the first half), convex after it.
    assert rates[1] - rates[0] > 5 * (rates[2] - rates[1])
    assert rates[3] - rates[2] < 0.01 * 25 < rates[4] - rates[3]


def test_a_doubled_limit_is_reached_within_a_minute_of_the_429(key: str) -> None:
    """Webex doubles the limit right after a 429 at 25/s: the pace is twice the rate the 429
    met 50 s (SEND_RATE_PROBE_SECONDS) after the gate's end, and past 50/s within a minute."""
    now = learn(key, 25)
    assert ratelimit.current_rate(key, now=now + 1.0 + 49) < 50
    assert ratelimit.current_rate(key, now=now + 1.0 + 50) == pytest.approx(2 * COLD * 25, rel=1e-3)
    assert ratelimit.current_rate(key, now=now + 60) >= 50
    # The pace the tasks get, not only the formula: admissions at the pace from 55 s on.
    at = now + 55.0
    tickets = [ratelimit.acquire(key, now=at) for _ in range(3)]
    assert tickets[0].rate > 50
    assert tickets[2].slot - tickets[1].slot == pytest.approx(1 / tickets[1].rate, rel=0.02)


def test_a_429_below_the_last_refused_rate_levels_off_lower(key: str) -> None:
    """CUBIC's fast convergence: the second 429 meets 14/s, below the 20/s the first met, so
    the growth levels off at (1 + 0.95) / 2 of 14/s, not at 14/s."""
    now = learn(key, 20)
    assert ratelimit.learnt_rate(key) == pytest.approx((0.95 * COLD * 20, COLD * 20), rel=1e-3)
    start = now + 1.0
    for i in range(16):  # 15/s for a second after the gate, then a 429
        assert ratelimit.acquire(key, now=start + i / 15).wait == 0.0
    started = start + 1.0 + 0.001
    ratelimit.record_429(key, 1, started=started, now=started + 0.004)
    base, wmax = ratelimit.learnt_rate(key) or (0.0, 0.0)
    # 14 admissions in the second before the refused one began (its own excluded)
    assert base == pytest.approx(0.95 * 14, rel=1e-3)
    assert wmax == pytest.approx(0.975 * 14, rel=1e-3)
    k = ((1 - base / wmax) / ratelimit.cubic_constant(50.0, 0.95)) ** (1 / 3)
    gate_end = started + 0.004 + 1.0
    assert ratelimit.current_rate(key, now=gate_end + k) == pytest.approx(wmax, rel=1e-3)


def test_a_429_above_the_last_refused_rate_still_levels_off_below_it(key: str) -> None:
    """A raised limit found by probing (a 429 at 24/s, above the 19.5/s the first 429 met):
    the growth levels off at (1 + 0.95) / 2 of 24/s too, not at 24/s, where the next 429
    would come within seconds (each one a whole Retry-After for every worker)."""
    now = learn(key, 20)
    c = ratelimit.cubic_constant(50.0, 0.95)
    start = now + 1.0 + 45.0  # probed well past 19.5/s by now
    assert ratelimit.current_rate(key, now=start) > 30
    for i in range(26):  # 25/s for a second, admitted at the faster pace, then a 429
        assert ratelimit.acquire(key, now=start + i / 25).wait == 0.0
    started = start + 1.0 + 0.001
    ratelimit.record_429(key, 1, started=started, now=started + 0.004)
    base, wmax = ratelimit.learnt_rate(key) or (0.0, 0.0)
    # 24 admissions in the second before the refused one began (its own excluded)
    assert base == pytest.approx(0.95 * 24, rel=1e-3)
    assert wmax == pytest.approx(COLD * 24, rel=1e-3)
    gate_end = started + 0.004 + 1.0
    k = ((1 - base / wmax) / c) ** (1 / 3)
    assert ratelimit.current_rate(key, now=gate_end + k) == pytest.approx(COLD * 24, rel=1e-3)
    # Below the refused 24/s for about 2 K after the gate, past it before a minute.
    assert ratelimit.current_rate(key, now=gate_end + 1.9 * k) < 24
    assert ratelimit.current_rate(key, now=gate_end + 50) > 1.5 * 24


def test_the_probe_setting_sets_how_fast(key: str, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_PROBE_SECONDS": 20}
    now = learn(key, 20)
    assert ratelimit.current_rate(key, now=now + 1.0 + 20) == pytest.approx(2 * COLD * 20, rel=1e-3)
    other = key + "-off"
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_PROBE_SECONDS": 0}
    now = learn(other, 20)
    assert ratelimit.current_rate(other, now=now + 1000) == pytest.approx(
        0.95 * COLD * 20, rel=1e-3
    )


def test_a_new_pacing_state_starts_at_the_learnt_rate(key: str) -> None:
    """The pacing state expires after a quiet spell (here: dropped, as its expiry does); the
    learnt rate outlives it, so the next burst starts paced at it, not unpaced."""
    now = learn(key, 25)
    assert ratelimit.learnt_rate(key) == pytest.approx((0.95 * COLD * 25, COLD * 25), rel=1e-3)
    _drop_state(key)
    later = now + 3600.0
    first = ratelimit.acquire(key, now=later)
    assert first.wait == 0.0 and first.rate == pytest.approx(0.95 * COLD * 25, rel=1e-3)
    second = ratelimit.acquire(key, now=later)  # paced: a slot, not admitted at once
    assert second.wait > 0 and second.rate == pytest.approx(0.95 * COLD * 25, rel=1e-3)
    # ...and probing upwards from there as after the 429: back at 25/s by K.
    k = (0.05 / ratelimit.cubic_constant(50.0, 0.95)) ** (1 / 3)
    assert ratelimit.current_rate(key, now=later + k) == pytest.approx(COLD * 25, rel=1e-3)


def test_the_learnt_rate_outlives_the_pacing_state(key: str) -> None:
    """The pacing state is kept for seconds past the last request (or the gate's end), the
    learnt rate for 30 days after the 429 that set it."""
    import time

    now = time.time()
    for i in range(10):
        ratelimit.acquire(key, now=now + i * 0.01)
    ratelimit.record_429(key, 2, started=now + 0.11, now=now + 0.12)
    state = _ttl(key, ratelimit._ADAPT_PREFIX)
    learnt = _ttl(key, ratelimit._LEARNT_PREFIX)
    assert state is not None and 2 < state <= ratelimit._STATE_IDLE + 3.5
    assert learnt is not None and learnt > 29 * 86400


def test_forget_and_unblock_drop_the_learnt_rate(key: str) -> None:
    now = learn(key, 10)
    ratelimit.forget(key)
    assert ratelimit.learnt_rate(key) is None
    assert ratelimit.current_rate(key, now=now + 10) == 0.0
    now = learn(key, 10, at=now + 10)
    assert ratelimit.learnt_rate(key) is not None
    ratelimit.unblock(key)
    assert ratelimit.learnt_rate(key) is None
    assert ratelimit.acquire(key, now=now).rate == 0.0  # unpaced again


def _drop_state(key: str) -> None:
    cache = ratelimit.gate_cache()
    cache.delete_many([ratelimit._ADAPT_PREFIX + key, ratelimit._SENT_PREFIX + key])


def _ttl(key: str, prefix: str) -> float | None:
    """Seconds until the cache entry expires (Redis: PTTL; locmem: its expiry table)."""
    import time

    cache = ratelimit.gate_cache()
    client = ratelimit._redis_client(cache)
    if client is not None:
        ms = client.pttl(cache.make_and_validate_key(prefix + key))
        return ms / 1000 if ms >= 0 else None
    expiry = cache._expire_info.get(cache.make_and_validate_key(prefix + key))  # type: ignore[attr-defined]
    return None if expiry is None else float(expiry) - time.time()


def test_the_fixed_limit_caps_the_learnt_rate(key: str, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_LIMIT": (5, 1.0),
                           "SEND_RATE_PROBE_SECONDS": 1}  # fmt: skip
    assert ratelimit.current_rate(key, now=T) == 5.0  # also the starting rate
    tickets = [ratelimit.acquire(key, now=T) for _ in range(3)]
    assert [t.wait for t in tickets] == pytest.approx([0.0, 0.1, 0.3], abs=1e-3)
    assert ratelimit.current_rate(key, now=T + 1000) == 5.0


def test_a_long_retry_after_measures_over_a_longer_window(key: str, settings: Any) -> None:
    # 5 sends a second for a minute (a per-minute limit of 300), then a 429 asking for 30 s:
    # a one-second window could see a lucky burst; the 30 s window sees 5/s.
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_INITIAL": 5,
                           "SEND_RATE_PROBE_SECONDS": 0}  # fmt: skip
    for i in range(301):
        assert ratelimit.acquire(key, now=T + i / 5).wait == 0.0
    started = T + 300 / 5
    ratelimit.record_429(key, 30, started=started + 0.001, now=started + 0.01)
    assert ratelimit.current_rate(key, now=started + 30) == pytest.approx(0.95 * 5, rel=0.02)


def test_a_ticket_keeps_its_slot_until_a_decrease_moves_it(key: str, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_INITIAL": 2}
    assert ratelimit.acquire(key, now=T).wait == 0.0
    ticket = ratelimit.acquire(key, now=T)
    assert ticket.wait == pytest.approx(0.25, abs=1e-3)
    # Coming back early (a countdown cut short by MAX_COUNTDOWN): the same slot, no new one.
    again = ratelimit.acquire(key, ticket.token, now=T + 0.2)
    assert again.slot == pytest.approx(ticket.slot, abs=1e-5)
    assert again.wait == pytest.approx(0.05, abs=1e-3)
    # A 429 closes the gate for 3 s: a slot inside it is void, the holder queues after it.
    ratelimit.record_429(key, 3, started=T + 0.1, now=T + 0.3)
    moved = ratelimit.acquire(key, ticket.token, now=T + 0.31)
    assert moved.wait > 0 and moved.slot >= T + 3.3 - 1e-3


def test_garbage_tickets_are_ignored(key: str) -> None:
    for token in ("", "x", "1:y", "nan", "inf"):
        assert ratelimit.acquire(key, token, now=T).wait == 0.0


def test_unblock_forgets_the_rate(key: str) -> None:
    now = learn(key, 10)
    ratelimit.unblock(key)
    assert ratelimit.blocked_for(key, now=now) == 0.0
    assert ratelimit.current_rate(key, now=now) == 0.0


@pytest.mark.redis
def test_concurrent_workers_are_admitted_once_and_spread_evenly(settings: Any) -> None:
    """On Redis admission is one atomic script: 8 threads x 25 requests at the same instant
    admit exactly one and give the other 199 distinct slots exactly 1/rate apart."""
    settings.CACHES = {**settings.CACHES, "pace": _cache("redis")}
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "pace",
                           "SEND_RATE_INITIAL": 40, "SEND_RATE_PROBE_SECONDS": 0}  # fmt: skip
    key = f"webexteams:bot:{uuid.uuid4().hex[:16]}"
    tickets: list[ratelimit.Ticket] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        mine = [ratelimit.acquire(key, now=T) for _ in range(25)]
        with lock:
            tickets.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for t in tickets if t.wait == 0.0) == 1
    slots = sorted(t.slot for t in tickets if t.wait > 0)
    assert len(slots) == 199
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(1 / 40, abs=1e-3)
    assert max(gaps) == pytest.approx(1 / 40, abs=1e-3)


def test_off_switch(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_ADAPTIVE": False}
    assert ratelimit.pace_config() is None


# --- in deliver() -----------------------------------------------------------------------------


def queue(**kwargs: Any) -> OutboundMessage:
    return messaging.send_message(enqueue=False, **kwargs)


@pytest.mark.django_db
def test_deliver_waits_for_its_slot_and_carries_the_ticket(
    webex: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_RATE_INITIAL": 0.5}
    first, second = (queue(room_id=webex.room.id, text=f"paced {i}") for i in range(2))
    assert messaging.deliver(first.pk).outcome == "sent"
    result = messaging.deliver(second.pk)
    assert result.outcome == "retry" and 0.5 < (result.countdown or 0) <= 1.0
    token = result.retry_kwargs["ticket"]
    # Early (a countdown cut short): the same ticket again, no new reservation.
    again = messaging.deliver(second.pk, ticket=token)
    assert again.outcome == "retry" and again.retry_kwargs["ticket"] == token
    # At the slot's time the ticket sends it.
    slot = float(token)
    real = ratelimit.acquire
    monkeypatch.setattr(ratelimit, "acquire", lambda k, t=None: real(k, t, now=slot))
    assert messaging.deliver(second.pk, ticket=token).outcome == "sent"


@pytest.mark.django_db
def test_deliver_a_429_learns_and_reserves_after_the_gate(webex: Any) -> None:
    key = rate_limit_key(None)
    for i in range(10):
        assert messaging.deliver(queue(room_id=webex.room.id, text=f"ok {i}").pk).outcome == "sent"
    webex.fake.fail_next(429, retry_after=2, method="POST", path="/messages")
    result = messaging.deliver(queue(room_id=webex.room.id, text="limited").pk)
    assert result.outcome == "retry" and 1.9 < (result.countdown or 0) <= 2.5
    assert "ticket" in result.retry_kwargs
    # Ten successes within the measured window: a rate was learnt (not unpaced any more).
    assert ratelimit.current_rate(key) > 0


@pytest.mark.django_db
def test_a_broken_pacing_cache_falls_back_to_sending(webex: Any, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    for name in ("acquire", "record_429"):
        monkeypatch.setattr(ratelimit, name, broken)
    row = queue(room_id=webex.room.id, text="despite the cache")
    assert messaging.deliver(row.pk).outcome == "sent"
    # A 429 still closes the plain gate.
    webex.fake.fail_next(429, retry_after=5, method="POST", path="/messages")
    result = messaging.deliver(queue(room_id=webex.room.id, text="limited").pk)
    assert result.outcome == "retry" and 5 <= (result.countdown or 0)
    assert ratelimit.blocked_for(rate_limit_key(None)) > 4


@pytest.mark.django_db
def test_a_dead_cache_still_sends_and_honours_retry_after(webex: Any, monkeypatch: Any) -> None:
    """Redis down: every gate and pacing call fails. Sending goes on (fail open), and a 429
    still waits for its Retry-After in that task."""

    def down() -> Any:
        raise ConnectionError("cache down")

    monkeypatch.setattr(ratelimit, "gate_cache", down)
    row = queue(room_id=webex.room.id, text="cache is down")
    assert messaging.deliver(row.pk).outcome == "sent"
    webex.fake.fail_next(429, retry_after=4, method="POST", path="/messages")
    result = messaging.deliver(queue(room_id=webex.room.id, text="limited").pk)
    assert result.outcome == "retry" and 4 <= (result.countdown or 0) <= 5


@pytest.mark.redis
@pytest.mark.parametrize("seed", [1, 2])
def test_the_lua_scripts_and_the_python_twin_agree(settings: Any, seed: int) -> None:
    """The same random run of admissions, 429s and quiet spells (the pacing state dropped, as
    its expiry does) on Redis (Lua) and on locmem (Python): the same answers."""
    import random

    rnd = random.Random(seed)
    events: list[tuple[str, float]] = []
    at = T
    for _ in range(400):
        at += rnd.expovariate(40.0)
        roll = rnd.random()
        events.append(("429" if roll < 0.02 else "quiet" if roll < 0.025 else "send", at))
    answers: dict[str, list[tuple[float, ...]]] = {}
    for backend in ("locmem", "redis"):
        settings.CACHES = {**settings.CACHES, "pace": _cache(backend)}
        settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "RATE_LIMIT_CACHE": "pace"}
        key = f"webexteams:bot:{uuid.uuid4().hex[:16]}"
        out: list[tuple[float, ...]] = []
        for kind, now in events:
            if kind == "429":
                ratelimit.record_429(key, 1, started=now - 0.002, now=now)
                learnt = ratelimit.learnt_rate(key) or (0.0, 0.0)
                out.append((-1.0, ratelimit.current_rate(key, now=now + 1.5), *learnt))
            elif kind == "quiet":
                _drop_state(key)
            else:
                ticket = ratelimit.acquire(key, now=now)
                out.append((ticket.wait, ticket.slot, ticket.rate))
        answers[backend] = out
    assert len(answers["locmem"]) == len(answers["redis"])
    limited = [a for a in answers["redis"] if len(a) == 4]
    # The run did exercise the decrease, the learnt rate and paced refusals.
    assert len(limited) >= 3 and all(a[2] > 0 for a in limited)
    assert sum(1 for a in answers["redis"] if len(a) == 3 and a[0] > 0) > 100
    for a, b in zip(answers["locmem"], answers["redis"], strict=True):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-5)
