"""``python -m benchmarks.run [names...]`` (``make bench``): run the benchmarks, write
``benchmarks/results/<name>.json``, then ``RESULTS.md`` from every result file present.

Names: ingest, listing, sending, overhead, websocket (default: all, in that order). ``--quick`` runs
tiny sizes (what tests/reliability/test_bench_smoke.py does; never for published figures).
Needs PostgreSQL (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/bench,
created and migrated here) and Redis (``BENCH_REDIS_URL``, default
redis://127.0.0.1:6379/11; database 11 for queues, 12 for the rate-limit gate), and ``wrk``
for the ingest benchmark. Starts and stops what it needs (gunicorn, Celery workers, fake
Webex servers). At the end it prints one table of every goal of every result file present
(benchmarks/goals.py; "not measured" for a benchmark without one), also at the top of
RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import goals
from benchmarks.common import log, results_dir

NAMES = ("ingest", "listing", "sending", "overhead", "websocket")

QUICK: dict[str, dict[str, Any]] = {
    "ingest": {"duration": 2, "rounds": 1, "bodies": 40_000, "e2e_duration": 2},
    "listing": {"rooms": 1_000, "small": 100, "page_size": 100, "rounds": 1,
                "memory_page_size": 10},
    "sending": {"count": 30, "rate": 20.0, "timeout": 90.0, "approaches": ("ours", "sdk-celery"),
                "reruns": 1},
    "overhead": {"calls": 50, "rounds": 1},
    "websocket": {"count": 30, "rounds": 1},
}  # fmt: skip


def runner(name: str) -> Callable[..., dict[str, Any]]:
    if name == "ingest":
        from benchmarks import ingest

        return ingest.run
    if name == "listing":
        from benchmarks import listing

        return listing.run
    if name == "sending":
        from benchmarks import sending

        return sending.run
    if name == "overhead":
        from benchmarks import overhead

        return overhead.run
    if name == "websocket":
        from benchmarks import websocket

        return websocket.run
    raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(NAMES)}")


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _goals(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_f(v)}" for k, v in value.items())
    return _f(value)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def render(directory: Path) -> str:
    """RESULTS.md from the result files in ``directory``."""
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks.run`) from the JSON files next to this "
        "one; docs/benchmarks.md explains each benchmark. Ratios compare figures measured in "
        "the same run on the same machine.",
        "",
        "## Goals",
        "",
        'Every goal of every benchmark, from the result files below ("not measured": no '
        'result file; met "-": a figure reported, no goal set for it).',
        "",
        *goal_table(directory),
        "",
    ]
    ingest = _load(directory / "ingest.json")
    if ingest:
        m = ingest["machine"]
        out += [
            "## 1. Webhook ingest (gunicorn, 2 workers, PostgreSQL, wrk)",
            "",
            f"{m['when']}, {m['cpus']} CPUs, load average {m.get('loadavg', '-')}, "
            f"{ingest['duration_seconds']:g} s per run, {ingest['rounds']} round(s), "
            f"wrk {ingest['wrk']['threads']} threads / {ingest['wrk']['connections']} connections.",
            "",
            "| variant | req/s | p50 ms | p99 ms | commits / request | non-2xx |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, s in ingest["summary"].items():
            out.append(
                f"| {name} | {s['requests_per_second']:.0f} | {s['latency_p50_ms']:.1f} | "
                f"{s['latency_p99_ms']:.1f} | {s['commits_per_request']:.2f} | {s['non_2xx']} |"
            )
        out.append("")
        for variant, g in ingest.get("goal_per_round", {}).items():
            refs = ingest.get("faster_reference_per_round", [])
            each = ", ".join(
                f"{r:.2f}" + (f" ({ref})" if ref else "")
                for r, ref in zip(g["per_round"], refs + [""] * len(g["per_round"]), strict=False)
            )
            out.append(
                f"- {variant} over the faster of minimal and floor, per round: {each}; "
                f"min **{g['min']:.2f}**, median **{g['median']:.2f}**"
            )
        for key, value in ingest["ratios"].items():
            rounds = ingest.get("ratios_per_round", {}).get(key)
            each = f" (per round: {', '.join(f'{r:.2f}' for r in rounds)})" if rounds else ""
            out.append(f"- {key.replace('_', ' ')}: **{value:.2f}**{each}")
        out += [
            "",
            f"Goal: {ingest['goal']}: "
            + ", ".join(f"{k} {_f(v)}" for k, v in ingest["goal_met"].items()),
            "",
        ]
        e2e = ingest.get("e2e")
        if e2e:
            out += [
                "### Celery mode end to end: delivery received -> receiver ran (celery-e2e)",
                "",
                f"wrk paced at {e2e['offered_rate_per_second']:.0f} req/s offered "
                f"({e2e['rate_source']}) for {e2e['duration_seconds']:g} s; one Celery worker "
                f"of {e2e['worker_processes']} prefork processes consuming the queue.",
                "",
                "| offered req/s | achieved req/s | deliveries | unprocessed | p50 ms | p90 ms "
                "| p99 ms | max ms | drained s after wrk |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                f"| {e2e['offered_rate_per_second']:.0f} | {e2e['achieved_rate_per_second']:.0f} "
                f"| {e2e['deliveries']} | {e2e['unprocessed']} | {e2e['p50_ms']:.1f} "
                f"| {e2e['p90_ms']:.1f} | {e2e['p99_ms']:.1f} | {e2e['max_ms']:.1f} "
                f"| {e2e.get('drain_seconds', 0):.1f} |",
                "",
            ]
            for a in e2e.get("overloaded_attempts", []):
                out += [
                    f"Not counted: an attempt at {a['offered_rate_per_second']:.0f} req/s offered "
                    f"overloaded the worker (drained {a['drain_seconds']:.1f} s after wrk; p50 "
                    f"{a['p50_ms']:.0f} ms, p99 {a['p99_ms']:.0f} ms: a growing queue).",
                    "",
                ]
        if ingest.get("chart"):
            out += [f"![ingest per round and celery-e2e latency]({ingest['chart']})", ""]
    listing = _load(directory / "listing.json")
    if listing:
        mem = listing["peak_bytes"]
        small, big = sorted(mem["ours"], key=int)
        out += [
            "## 2. Listing rooms over HTTP (ours vs webexpythonsdk)",
            "",
            f"{listing['rooms']} rooms, page size {listing['page_size']} for time, "
            f"{listing.get('memory_page_size', '-')} for memory, {listing['rounds']} "
            "alternating round(s); fake Webex in its own process.",
            "",
            "| client | median wall s | median client CPU s | peak KiB @ "
            + small
            + " items | peak KiB @ "
            + big
            + " items |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in ("ours", "webexpythonsdk"):
            out.append(
                f"| {name} | {listing['median_wall_seconds'][name]:.2f} | "
                f"{listing['median_client_cpu_seconds'][name]:.2f} | "
                f"{mem[name][small] / 1024:.0f} | {mem[name][big] / 1024:.0f} |"
            )
        out += [
            "",
            f"- time ratio ours / SDK: **{_f(listing['time_ratio_ours_over_sdk'])}** "
            f"(client CPU ratio {_f(listing['cpu_ratio_ours_over_sdk'])})",
            f"- peak memory {big} / {small} items: ours {_f(listing['memory_growth_ours'])}, "
            f"SDK {_f(listing['memory_growth_sdk'])}",
            "",
            f"Goal: {listing['goal']}: " + _goals(listing["goal_met"]),
            "",
        ]
    sending = _load(directory / "sending.json")
    if sending:
        out += [
            "## 3. Sending under a rate limit",
            "",
            f"{sending['messages']} messages, R = {sending['rate_per_second']:g} requests/s, "
            f"{sending['worker_processes']} worker processes.",
            "",
            "| approach | goodput / R | 429s | 429 share | lost | duplicated | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in sending["approaches"].items():
            out.append(
                f"| {name} | {_f(r['goodput_over_rate'])} | {r['responses_429']} | "
                f"{100 * r['share_429']:.1f}% | {r['lost']} | {r['duplicated']} | "
                f"{r['duration_seconds']:.1f} |"
            )
        out += [
            "",
            f"![sending over time]({sending['chart']})",
            "",
            f"Goal: {sending['goal']}: "
            + ", ".join(f"{k} {_f(v)}" for k, v in sending["goal_met"].items()),
            "",
        ]
    overhead = _load(directory / "overhead.json")
    if overhead:
        out += [
            "## 4. Client call overhead (fake mounted in-process)",
            "",
            f"{overhead['calls_per_round']} calls x {overhead['rounds']} alternating rounds; "
            "median microseconds per call; `requests` = plain requests + JSON decode (the floor).",
            "",
            "| operation | ours | webexpythonsdk | requests | ours / SDK |",
            "|---|---:|---:|---:|---:|",
        ]
        for op, r in overhead["operations"].items():
            us = r["us_per_call"]
            out.append(
                f"| {op} | {us['ours']:.0f} | {us['webexpythonsdk']:.0f} | "
                f"{us['requests']:.0f} | {r['ratio_ours_over_sdk']:.2f} |"
            )
        out += ["", f"Goal: {overhead['goal']}: {_f(overhead['goal_met'])}", ""]
    websocket = _load(directory / "websocket.json")
    if websocket:
        out += [
            "## Websocket receive (ours vs webex_bot)",
            "",
            f"{websocket['count']} events per round, {len(websocket['rounds'])} round(s), medians.",
            "",
            "| | ours | webex_bot |",
            "|---|---:|---:|",
            f"| events / s | {websocket['ours_events_per_second']:.0f} | "
            f"{websocket['webex_bot_events_per_second']:.0f} |",
            f"| REST calls / event | {websocket['ours_rest_calls_per_event']:.2f} | "
            f"{websocket['webex_bot_rest_calls_per_event']:.2f} |",
            f"| lost per round | {websocket['ours_lost']} | {websocket['webex_bot_lost']} |",
            "",
        ]
    return "\n".join(out)


def goal_table(directory: Path) -> list[str]:
    """The one table of every goal (markdown lines), from every result file in ``directory``;
    a benchmark without a result file shows as "not measured"."""
    return goals.table({name: _load(directory / f"{name}.json") for name in NAMES})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: {' '.join(NAMES)})")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test only)")
    args = parser.parse_args(argv)
    names = args.names or list(NAMES)
    for name in names:
        runner(name)  # validate every name before running anything
    started = time.monotonic()
    failures = []
    for name in names:
        log(f"=== {name} ===")
        try:
            runner(name)(**(QUICK[name] if args.quick else {}))
        except Exception as exc:  # report, run the others, fail at the end
            log(f"{name} failed: {type(exc).__name__}: {exc}")
            failures.append(name)
            if os.environ.get("BENCH_RAISE"):
                raise
    directory = results_dir()
    (directory / "RESULTS.md").write_text(render(directory))
    log(f"done in {time.monotonic() - started:.0f}s; results in {directory}")
    print("\nGoals (every result file in the results directory):\n", flush=True)
    print("\n".join(goal_table(directory)), flush=True)
    if failures:
        log(f"failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
