"""Benchmark 4: the cost of one client call, ours against webexpythonsdk.

The fake Webex is mounted in-process (``fake.adapter()``, a ``requests`` transport adapter,
no sockets) on our client's session and on the SDK's ``requests`` session, so a call costs
the client's own work plus the fake's handling, the same for both. A third line, plain
``requests`` with the JSON decoded and nothing else, is the floor: what any client must pay
for that call. Reported per operation: median microseconds per call over several rounds
(alternating clients), the ratio ours / SDK, and each client's overhead above the floor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import goals
from benchmarks.common import log, median, write_result

NAME = "overhead"


def _bench(call: Callable[[int], Any], n: int) -> float:
    """Microseconds per call of ``call(i)`` for i in range(n)."""
    start = time.perf_counter()
    for i in range(n):
        call(i)
    return (time.perf_counter() - start) / n * 1e6


def run(calls: int = 2_000, rounds: int = 5) -> dict[str, Any]:
    import webexpythonsdk

    from django_webexteams.client import WebexClient
    from django_webexteams.testing import FakeWebex

    fake = FakeWebex()  # not started: in-process only
    alice = fake.add_person("alice@example.com", "Alice")
    room = fake.create_room(alice, "Overhead space")
    message = fake.post_message(alice, room_id=room.id, text="hello")

    ours = WebexClient(alice.token, base_url=fake.base_url, session=fake.session())
    sdk = webexpythonsdk.WebexAPI(access_token=alice.token, base_url=fake.base_url + "/")
    sdk._session._req_session.mount(fake.url + "/", fake.adapter())
    raw = fake.session()
    raw.headers["Authorization"] = f"Bearer {alice.token}"
    base = fake.base_url

    def raw_get_room(i: int) -> Any:
        response = raw.get(f"{base}/rooms/{room.id}", timeout=10)
        response.raise_for_status()
        return response.json()

    def raw_get_message(i: int) -> Any:
        response = raw.get(f"{base}/messages/{message['id']}", timeout=10)
        response.raise_for_status()
        return response.json()

    def raw_create(i: int) -> Any:
        response = raw.post(
            f"{base}/messages", json={"roomId": room.id, "text": f"m{i}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    operations: dict[str, dict[str, Callable[[int], Any]]] = {
        "rooms.get": {
            "ours": lambda i: ours.rooms.get(room.id).title,
            "webexpythonsdk": lambda i: sdk.rooms.get(room.id).title,
            "requests": raw_get_room,
        },
        "messages.get": {
            "ours": lambda i: ours.messages.get(message["id"]).text,
            "webexpythonsdk": lambda i: sdk.messages.get(message["id"]).text,
            "requests": raw_get_message,
        },
        "messages.create": {
            "ours": lambda i: ours.messages.create(room_id=room.id, text=f"m{i}").id,
            "webexpythonsdk": lambda i: sdk.messages.create(roomId=room.id, text=f"m{i}").id,
            "requests": raw_create,
        },
    }
    results: dict[str, Any] = {}
    for op, impls in operations.items():
        for call in impls.values():
            _bench(call, min(100, calls))  # warm-up
        samples: dict[str, list[float]] = {k: [] for k in impls}
        for r in range(rounds):
            order = list(impls) if r % 2 == 0 else list(reversed(impls))
            for name in order:
                samples[name].append(_bench(impls[name], calls))
        med = {k: median(v) for k, v in samples.items()}
        results[op] = {
            "us_per_call": med,
            "samples_us": samples,
            "ratio_ours_over_sdk": med["ours"] / med["webexpythonsdk"],
            "overhead_above_requests_us": {
                "ours": med["ours"] - med["requests"],
                "webexpythonsdk": med["webexpythonsdk"] - med["requests"],
            },
        }
        log(
            f"overhead: {op}: ours {med['ours']:.0f} us, SDK {med['webexpythonsdk']:.0f} us, "
            f"requests {med['requests']:.0f} us"
        )
    result = {
        "calls_per_round": calls,
        "rounds": rounds,
        "operations": results,
        "goal": "ratio ours / SDK <= 1.0",
    }
    result["goal_met"] = all(v["ratio_ours_over_sdk"] <= 1.0 for v in results.values())
    result["goals"] = goals.overhead(result)
    write_result(NAME, result)
    return result
