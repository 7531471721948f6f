"""Benchmark 3: sending 1,000 messages through 4 worker processes under a rate limit.

The fake Webex (in this process, real HTTP) allows ``R`` requests per second per token and
answers 429 with ``Retry-After`` beyond it. Three ways of sending the same 1,000 messages to
one space, each with one Celery worker of 4 prefork processes on a Redis queue of its own:

- ``ours``: ``send_message`` (outbox row, task ``webexteams.deliver_message``, the shared
  rate-limit gate and adaptive pacing in a Redis cache, Retry-After as a Celery countdown),
  not told R: first a cold start (nothing learnt: unpaced until the first 429, what the
  very first burst of a new credential meets; reported, with no goal of its own), then
  ``RERUNS`` (5) reruns on the same gate cache, each starting from the rate the earlier runs
  learnt (issue 21: "start from what the gate already knows"). Between runs the benchmark
  waits until the pacing state has expired (the credential idle for ``_STATE_IDLE``
  seconds), as between two bursts of a real bot; the learnt rate outlives it. The goal must
  hold in every one of the five reruns;
- ``ours-paced``: the same told the limit, ``WEBEXTEAMS["SEND_RATE_LIMIT"] = (R, 1.0)``
  (with adaptive pacing, the default, that is the starting rate and the ceiling), run once on
  a cache of its own;
- ``sdk-celery``: the way people do it today (:mod:`benchmarks.celery_baseline`): a task
  calling ``webexpythonsdk`` with its default ``wait_on_rate_limit`` (sleeps in the task), run
  once.

From the fake's request log (timestamped): goodput = messages stored / (last stored - first
request), its ratio to R, 429s (count and share of requests), lost (asked for, never stored)
and duplicated (stored more than once). ``sending.json`` holds every run (``ours_reruns``:
the five), ``approaches["ours"]`` is the worst rerun (lowest goodput), and ``goals`` one row
per condition with the worst rerun's value. A chart of messages stored and 429s per second
for each run goes to ``benchmarks/results/sending.png``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from typing import Any

from benchmarks.common import (
    ROOT,
    celery_worker_cmd,
    log,
    process,
    results_dir,
    wait_until,
    write_result,
)

NAME = "sending"
APPROACHES = ("ours", "ours-paced", "sdk-celery")
#: How many times ``ours`` runs in a row on the same gate cache.
RERUNS = 5
GOODPUT_GOAL = 0.9
SHARE_429_GOAL = 0.05


class Recorder:
    """Timestamps every request the fake answers (the fake's own log has no times)."""

    def __init__(self, fake: Any) -> None:
        self.events: list[tuple[float, str, str, int, bytes]] = []
        original = fake._record

        def record(rec: Any) -> None:
            self.events.append((time.monotonic(), rec.method, rec.path, rec.status, rec.body))
            original(rec)

        fake._record = record

    def clear(self) -> None:
        self.events = []


def _texts_stored(fake: Any, room_id: str, tag: str) -> Counter[str]:
    return Counter(m.get("text", "") for m in fake.messages_in(room_id) if tag in m.get("text", ""))


def _wait(done: Any, timeout: float, what: str) -> bool:
    if wait_until(done, timeout, interval=0.25):
        return True
    log(f"sending: timed out waiting for {what}")
    return False


def _analyse(
    events: list[tuple[float, str, str, int, bytes]],
    rate: float,
    count: int,
    stored: Counter[str],
    expected: set[str],
) -> dict[str, Any]:
    posts = [e for e in events if e[1] == "POST" and e[2] == "/messages"]
    ok = [e for e in posts if e[3] == 200]
    limited = [e for e in events if e[3] == 429]
    t0 = events[0][0] if events else 0.0
    span = (ok[-1][0] - t0) if ok else 0.0
    unique_ok = sum(1 for t in expected if stored.get(t, 0) >= 1)
    duplicates = sum(n - 1 for t, n in stored.items() if n > 1)
    goodput = unique_ok / span if span else 0.0
    seconds = int(max((e[0] - t0) for e in events)) + 1 if events else 0
    sent_per_s = [0] * seconds
    r429_per_s = [0] * seconds
    for e in ok:
        sent_per_s[int(e[0] - t0)] += 1
    for e in limited:
        r429_per_s[int(e[0] - t0)] += 1
    return {
        "messages": count,
        "requests": len(events),
        "post_requests": len(posts),
        "stored": sum(stored.values()),
        "delivered_unique": unique_ok,
        "lost": count - unique_ok,
        "duplicated": duplicates,
        "responses_429": len(limited),
        "share_429": len(limited) / len(events) if events else 0.0,
        "other_errors": sum(1 for e in events if e[3] >= 400 and e[3] != 429),
        "duration_seconds": span,
        "goodput_per_second": goodput,
        "goodput_over_rate": goodput / rate if rate else None,
        "timeline": {"sent_per_second": sent_per_s, "429_per_second": r429_per_s},
    }


def _worker_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **base, **extra}


def run_ours(
    fake: Any,
    recorder: Recorder,
    bot: Any,
    room: Any,
    *,
    count: int,
    rate: float,
    paced: bool,
    workers: int,
    redis_url: str,
    cache_url: str,
    timeout: float,
    prefix: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    from django.conf import settings
    from django.db import transaction

    from benchmarks.ingest import database_url
    from django_webexteams.messaging import send_message
    from django_webexteams.models import OutboundMessage
    from testproject.celery import app

    queue = f"bench-send-{uuid.uuid4().hex[:8]}"
    prefix = prefix or f"bench{uuid.uuid4().hex[:6]}"
    extra: dict[str, Any] = {"REQUEST_TIMEOUT": [5.0, 30.0], "CELERY_QUEUE": queue}
    if paced:
        extra["SEND_RATE_LIMIT"] = [rate, 1.0]
    env = _worker_env(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "BENCH_DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CACHE_URL": cache_url,
            "CACHE_KEY_PREFIX": prefix,
            "WEBEX_API_BASE_URL": fake.base_url,
            "WEBEX_BOT_TOKEN": bot.token,
            "WEBEXTEAMS_EXTRA": json.dumps(extra),
        }
    )
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake.base_url,
        "BOT_TOKEN": bot.token,
        "CELERY_QUEUE": queue,
    }
    app.conf.update(broker_url=redis_url, task_default_queue=queue, task_always_eager=False)
    name = label or ("ours-paced" if paced else "ours")
    tag = f"[{name}-{uuid.uuid4().hex[:6]}]"
    texts = [f"{tag} message {i:04d}" for i in range(count)]
    OutboundMessage.objects.all().delete()
    cmd = celery_worker_cmd("testproject", queue, workers)
    logfile = ROOT / "var" / "bench" / f"worker-{name}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with process(cmd, env=env, log=logfile):
        _wait(lambda: b"ready" in logfile.read_bytes(), 60, "the worker to start")
        recorder.clear()
        with transaction.atomic():
            for text in texts:
                send_message(room_id=room.id, text=text)
        finished = _wait(
            lambda: (
                not OutboundMessage.objects.filter(
                    status__in=[OutboundMessage.Status.QUEUED, OutboundMessage.Status.SENDING]
                ).exists()
            ),
            timeout,
            f"{name} to finish",
        )
        events = list(recorder.events)
    import redis

    redis.Redis.from_url(redis_url).delete(queue)
    statuses = Counter(OutboundMessage.objects.values_list("status", flat=True))
    stored = _texts_stored(fake, room.id, tag)
    result = _analyse(events, rate, count, stored, set(texts))
    result["finished"] = finished
    result["outbox_status"] = dict(statuses)
    return result


def run_sdk(
    fake: Any,
    recorder: Recorder,
    bot: Any,
    room: Any,
    *,
    count: int,
    rate: float,
    workers: int,
    redis_url: str,
    timeout: float,
) -> dict[str, Any]:
    from benchmarks import celery_baseline

    queue = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    env = _worker_env(
        {
            "BASELINE_BROKER_URL": redis_url,
            "BASELINE_QUEUE": queue,
            "BASELINE_API_BASE_URL": fake.base_url,
            "BASELINE_TOKEN": bot.token,
        }
    )
    celery_baseline.app.conf.update(broker_url=redis_url, task_default_queue=queue)
    tag = f"[sdk-{uuid.uuid4().hex[:6]}]"
    texts = [f"{tag} message {i:04d}" for i in range(count)]
    cmd = celery_worker_cmd("benchmarks.celery_baseline", queue, workers)
    logfile = ROOT / "var" / "bench" / "worker-sdk.log"
    import redis

    broker = redis.Redis.from_url(redis_url)
    with process(cmd, env=env, log=logfile):
        _wait(lambda: b"ready" in logfile.read_bytes(), 60, "the worker to start")
        recorder.clear()
        for text in texts:
            celery_baseline.send_message.apply_async(args=(room.id, text), queue=queue)
        # Done when the queue is drained and every message arrived, or nothing moved for a
        # while (lost messages never arrive).
        last = [time.monotonic(), -1]

        def done() -> bool:
            n = sum(_texts_stored(fake, room.id, tag).values())
            if n != last[1]:
                last[0], last[1] = time.monotonic(), n
            idle = time.monotonic() - last[0] > 30
            return (n >= count and broker.llen(queue) == 0) or idle

        finished = _wait(done, timeout, "sdk-celery to finish")
        time.sleep(1)
        events = list(recorder.events)
    broker.delete(queue)
    stored = _texts_stored(fake, room.id, tag)
    result = _analyse(events, rate, count, stored, set(texts))
    result["finished"] = finished
    return result


def chart(runs: dict[str, dict[str, Any]], rate: float, path: Any) -> None:
    """One panel per run (the cold start and the ``ours`` reruns first): stored/s and 429s/s
    over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    fig, axes = plt.subplots(
        len(names), 1, figsize=(10, 2.4 * len(names)), sharex=True, squeeze=False
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        timeline = runs[name]["timeline"]
        sent, limited = timeline["sent_per_second"], timeline["429_per_second"]
        xs = range(len(sent))
        ax.bar(xs, sent, width=1.0, align="edge", color="#2b7bb9", label="messages stored / s")
        ax.bar(xs, limited, width=1.0, align="edge", bottom=sent, color="#d9534f", label="429 / s")
        ax.axhline(rate, color="black", linestyle="--", linewidth=1, label=f"R = {rate:g}/s")
        r = runs[name]
        ratio = r["goodput_over_rate"]
        ax.set_title(
            f"{name}: goodput {ratio if ratio is None else round(ratio, 3)} R, "
            f"{r['responses_429']} x 429 ({100 * r['share_429']:.1f}% of requests), "
            f"lost {r['lost']}, duplicated {r['duplicated']}",
            fontsize=9,
        )
        ax.set_ylim(0, max([rate * 1.3, *(a + b + 1 for a, b in zip(sent, limited, strict=True))]))
        ax.set_ylabel("per second")
        ax.legend(loc="lower right", fontsize=7)
    axes[-1, 0].set_xlabel("seconds since the run's first request")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def meets_goal(r: dict[str, Any]) -> bool:
    return bool(
        r["goodput_over_rate"] is not None
        and r["goodput_over_rate"] >= GOODPUT_GOAL
        and r["share_429"] <= SHARE_429_GOAL
        and r["lost"] == 0
        and r["duplicated"] == 0
        and r.get("finished", True)
    )


def goal_rows(reruns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per condition of the goal, with the worst rerun's value."""
    n = len(reruns)
    ratios = [r["goodput_over_rate"] for r in reruns]
    worst_ratio = None if not reruns or None in ratios else min(ratios)
    worst_share = max((r["share_429"] for r in reruns), default=None)
    lost = max((r["lost"] for r in reruns), default=None)
    duplicated = max((r["duplicated"] for r in reruns), default=None)
    where = f"sending: ours, worst of {n} reruns"
    return [
        {"measure": f"{where}: goodput / R", "value": worst_ratio,
         "goal": f">= {GOODPUT_GOAL:g}",
         "met": worst_ratio is not None and worst_ratio >= GOODPUT_GOAL},
        {"measure": f"{where}: share of requests answered 429", "value": worst_share,
         "goal": f"<= {SHARE_429_GOAL:g}",
         "met": worst_share is not None and worst_share <= SHARE_429_GOAL},
        {"measure": f"{where}: messages lost",
         "value": None if lost is None else float(lost), "goal": "0", "met": lost == 0},
        {"measure": f"{where}: messages duplicated",
         "value": None if duplicated is None else float(duplicated), "goal": "0",
         "met": duplicated == 0},
    ]  # fmt: skip


def cold_rows(cold: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cold start, reported without a goal of its own (met "-"): nothing was learnt,
    so it sends unpaced until the first 429, as a new credential's first burst does."""
    if cold is None:
        return []
    where = "sending: ours, cold start (nothing learnt)"
    return [
        {"measure": f"{where}: goodput / R", "value": cold["goodput_over_rate"],
         "goal": "-", "met": None},
        {"measure": f"{where}: share of requests answered 429", "value": cold["share_429"],
         "goal": "-", "met": None},
        {"measure": f"{where}: messages lost + duplicated",
         "value": float(cold["lost"] + cold["duplicated"]), "goal": "0",
         "met": cold["lost"] + cold["duplicated"] == 0},
    ]  # fmt: skip


def _wait_state_expired(cache_url: str, prefix: str, timeout: float) -> float:
    """Wait until the pacing state under ``prefix`` has expired (what a quiet spell of the
    credential does; the learnt rate stays). Returns the seconds waited."""
    import redis

    from django_webexteams.messaging import ratelimit

    client = redis.Redis.from_url(cache_url)
    pattern = f"{prefix}:*{ratelimit._ADAPT_PREFIX}*"
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not list(client.scan_iter(match=pattern, count=1000)):
            break
        time.sleep(0.25)
    else:
        log("sending: the pacing state did not expire in time")
    learnt = list(client.scan_iter(match=f"{prefix}:*{ratelimit._LEARNT_PREFIX}*", count=1000))
    log(f"sending: pacing state expired after {time.monotonic() - started:.1f}s idle; "
        f"learnt rate kept: {bool(learnt)}")  # fmt: skip
    client.close()
    return time.monotonic() - started


def _summary(name: str, r: dict[str, Any]) -> str:
    return (
        f"sending: {name}: goodput {r['goodput_per_second']:.1f}/s = "
        f"{r['goodput_over_rate']:.3f} R, "
        f"429s {r['responses_429']} ({100 * r['share_429']:.1f}%), lost {r['lost']}, "
        f"duplicated {r['duplicated']}, {r['duration_seconds']:.1f}s"
    )


def run(
    count: int = 1_000,
    rate: float = 25.0,
    workers: int = 4,
    timeout: float = 240.0,
    approaches: tuple[str, ...] = APPROACHES,
    reruns: int = RERUNS,
) -> dict[str, Any]:
    from benchmarks.ingest import ensure_database, setup_django

    ensure_database()
    setup_django()
    from django_webexteams.messaging import ratelimit
    from django_webexteams.testing import FakeWebex

    redis_base = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11").rsplit("/", 1)[0]
    redis_url, cache_url = f"{redis_base}/11", f"{redis_base}/12"
    results: dict[str, dict[str, Any]] = {}
    ours_reruns: list[dict[str, Any]] = []
    cold: dict[str, Any] | None = None  # the cold start, before the reruns
    runs: dict[str, dict[str, Any]] = {}  # every run, in order, for the chart
    with FakeWebex() as fake:
        recorder = Recorder(fake)
        alice = fake.add_person("alice@example.com", "Alice")
        bot = fake.add_bot("Bench Bot")
        room = fake.create_room(alice, "Bench space", members=[bot])
        fake.set_rate_limit(per_second=rate)
        for name in approaches:
            common: dict[str, Any] = {"count": count, "rate": rate, "workers": workers,
                                      "redis_url": redis_url, "timeout": timeout}  # fmt: skip
            if name == "sdk-celery":
                log(f"sending: {name}: {count} messages, R = {rate:g}/s, {workers} processes")
                r = run_sdk(fake, recorder, bot, room, **common)
                results[name] = runs[name] = r
                log(_summary(name, r))
            elif name == "ours-paced":
                log(f"sending: {name}: {count} messages, R = {rate:g}/s, {workers} processes")
                r = run_ours(fake, recorder, bot, room, paced=True, cache_url=cache_url,
                             **common)  # fmt: skip
                results[name] = runs[name] = r
                log(_summary(name, r))
            else:
                # The same gate cache (key prefix) for every rerun: what one learns, the next
                # starts from.
                prefix = f"bench{uuid.uuid4().hex[:6]}"
                for i in range(0, reruns + 1):
                    label = "ours cold start" if i == 0 else f"ours rerun {i}"
                    if i > 0:
                        _wait_state_expired(cache_url, prefix, ratelimit._STATE_IDLE + 60)
                    log(f"sending: {label}: {count} messages, R = {rate:g}/s, "
                        f"{workers} processes")  # fmt: skip
                    r = run_ours(fake, recorder, bot, room, paced=False, cache_url=cache_url,
                                 prefix=prefix, label=f"ours-{i}", **common)  # fmt: skip
                    r["rerun"] = i
                    runs[label] = r
                    log(_summary(label, r))
                    if i == 0:
                        cold = r
                    else:
                        ours_reruns.append(r)
                if ours_reruns:
                    worst = min(ours_reruns, key=lambda r: r["goodput_over_rate"] or 0.0)
                    results[name] = {**worst, "reruns": [
                        {k: v for k, v in r.items() if k != "timeline"} for r in ours_reruns
                    ]}  # fmt: skip
            time.sleep(2)  # let the fake's rate window empty between approaches
    from benchmarks import celery_baseline
    from testproject.celery import app

    # app.pool is kombu's connection pool (celery-types names it a ProducerPool).
    app.pool.force_close_all()  # type: ignore[attr-defined]
    celery_baseline.app.pool.force_close_all()  # type: ignore[attr-defined]
    png = results_dir() / "sending.png"
    chart(runs, rate, png)
    goal = {name: meets_goal(r) for name, r in results.items()}
    if "ours" in results:
        goal["ours"] = bool(ours_reruns) and all(meets_goal(r) for r in ours_reruns)
    doc = {
        "messages": count,
        "rate_per_second": rate,
        "worker_processes": workers,
        "reruns": len(ours_reruns),
        "approaches": results,
        "ours_reruns": ours_reruns,
        "ours_cold_start": (
            {k: v for k, v in cold.items() if k != "timeline"} if cold is not None else None
        ),
        "chart": png.name,
        "goal": (
            f"goodput >= {GOODPUT_GOAL:g} R, 429s <= {100 * SHARE_429_GOAL:g}% of requests, "
            f"nothing lost, nothing duplicated (ours: in each of {len(ours_reruns)} reruns)"
        ),
        "goal_met": goal,
        "goals": (goal_rows(ours_reruns) if ours_reruns else []) + cold_rows(cold),
    }
    write_result(NAME, doc)
    return doc
