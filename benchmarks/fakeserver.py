"""A fake Webex in its own process, seeded for the listing benchmark.

``python -m benchmarks.fakeserver --port P --rooms N`` prints one JSON line (base URL and
the token of the person who is a member of the N rooms) once it listens, then serves until
terminated. A separate process keeps the server's CPU work out of the measured client's
interpreter (in one process they would share the GIL and each other's time).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading

from django_webexteams.testing import FakeWebex


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rooms", type=int, default=0)
    args = parser.parse_args()
    fake = FakeWebex(port=args.port)
    alice = fake.add_person("alice@example.com", "Alice")
    with fake.state.lock:
        # Straight into the state (no events, no request log): seeding 20,000 rooms through
        # the API would take longer than listing them.
        for i in range(args.rooms):
            room = fake.state.create_room(alice, f"Benchmark space {i:05d}")
            fake.state.add_member(room, alice)
    fake.start()
    print(json.dumps({"base_url": fake.base_url, "token": alice.token}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
