"""Benchmark 2: iterate 20,000 spaces with our client and with webexpythonsdk.

One fake Webex in its own process holds the spaces; both clients list them over real HTTP
with the same page size (``max``), in alternating runs (ours, SDK, ours, SDK, ...) so that
drift on the machine hits both alike. Reported: wall time and the client process's CPU time
per run (medians) and their ratios, and the peak of Python allocations (tracemalloc) while
iterating the first 1,000 and all 20,000 items, in separate runs (tracemalloc slows Python
down, so memory runs are not timed).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks import goals
from benchmarks.common import ROOT, log, median, write_result

NAME = "listing"


def _ours(base_url: str, token: str, page_size: int) -> Callable[[], Iterable[Any]]:
    from django_webexteams.client import WebexClient

    client = WebexClient(token, base_url=base_url)
    return lambda: client.rooms.list(max=page_size)


def _sdk(base_url: str, token: str, page_size: int) -> Callable[[], Iterable[Any]]:
    import webexpythonsdk

    api = webexpythonsdk.WebexAPI(access_token=token, base_url=base_url + "/")
    return lambda: api.rooms.list(max=page_size)


def _consume(items: Iterable[Any], limit: int) -> int:
    """Touch every item the way an application would (id and title), keep none."""
    count = 0
    for item in itertools.islice(items, limit):
        if item.id and item.title:
            count += 1
    return count


def _timed(listing: Callable[[], Iterable[Any]], limit: int) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = _consume(listing(), limit)
    return time.perf_counter() - wall, time.process_time() - cpu, count


def _peak(listing: Callable[[], Iterable[Any]], limit: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        count = _consume(listing(), limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, count


def run(
    rooms: int = 20_000,
    small: int = 1_000,
    page_size: int = 1_000,
    rounds: int = 3,
    memory_page_size: int = 100,
) -> dict[str, Any]:
    """Time runs use ``page_size`` (1,000, the most Webex serves for rooms, so that the
    clients' own work is not drowned in the fake's per-page cost); memory runs use
    ``memory_page_size`` (100, the default), so that 1,000 items are 10 pages and 20,000 are
    200: memory that grows with the number of pages or items shows."""
    cmd = [sys.executable, "-m", "benchmarks.fakeserver", "--rooms", str(rooms)]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        clients = {
            "ours": _ours(info["base_url"], info["token"], page_size),
            "webexpythonsdk": _sdk(info["base_url"], info["token"], page_size),
        }
        # Warm-up: connections, imports, the server's caches.
        for listing in clients.values():
            _consume(listing(), page_size)
        walls: dict[str, list[float]] = {k: [] for k in clients}
        cpus: dict[str, list[float]] = {k: [] for k in clients}
        counts: dict[str, int] = {}
        for r in range(rounds):
            order = list(clients) if r % 2 == 0 else list(reversed(clients))
            for name in order:
                wall, cpu, count = _timed(clients[name], rooms)
                walls[name].append(wall)
                cpus[name].append(cpu)
                counts[name] = count
                log(f"listing: {name} {count} items in {wall:.2f}s (client CPU {cpu:.2f}s)")
        memory: dict[str, dict[str, int]] = {k: {} for k in clients}
        paged = {
            "ours": _ours(info["base_url"], info["token"], memory_page_size),
            "webexpythonsdk": _sdk(info["base_url"], info["token"], memory_page_size),
        }
        for limit in (small, rooms):
            for name, listing in paged.items():
                peak, count = _peak(listing, limit)
                memory[name][str(limit)] = peak
                log(f"listing: {name} peak {peak / 1024:.0f} KiB over {count} items")
    finally:
        server.terminate()
        server.wait(timeout=20)
    ours_wall, sdk_wall = median(walls["ours"]), median(walls["webexpythonsdk"])
    ours_cpu, sdk_cpu = median(cpus["ours"]), median(cpus["webexpythonsdk"])
    result = {
        "rooms": rooms,
        "page_size": page_size,
        "memory_page_size": memory_page_size,
        "rounds": rounds,
        "items_seen": counts,
        "wall_seconds": walls,
        "client_cpu_seconds": cpus,
        "median_wall_seconds": {"ours": ours_wall, "webexpythonsdk": sdk_wall},
        "median_client_cpu_seconds": {"ours": ours_cpu, "webexpythonsdk": sdk_cpu},
        "time_ratio_ours_over_sdk": ours_wall / sdk_wall if sdk_wall else None,
        "cpu_ratio_ours_over_sdk": ours_cpu / sdk_cpu if sdk_cpu else None,
        "peak_bytes": memory,
        "memory_growth_ours": (
            memory["ours"][str(rooms)] / memory["ours"][str(small)]
            if memory["ours"][str(small)]
            else None
        ),
        "memory_growth_sdk": (
            memory["webexpythonsdk"][str(rooms)] / memory["webexpythonsdk"][str(small)]
            if memory["webexpythonsdk"][str(small)]
            else None
        ),
        "goal": "time ratio <= 1.0 (no slower than the SDK); peak memory flat in items",
    }
    time_ratio = result["time_ratio_ours_over_sdk"]
    growth = result["memory_growth_ours"]
    result["goal_met"] = {
        "no slower than the SDK": isinstance(time_ratio, float) and time_ratio <= 1.0,
        # Flat: 20x the items may not cost more than 1.5x the peak (pages are bounded).
        "memory flat in items": isinstance(growth, float) and growth < 1.5,
    }
    result["goals"] = goals.listing(result)
    write_result(NAME, result)
    return result
