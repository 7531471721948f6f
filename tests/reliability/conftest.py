"""Shared pieces of the reliability suite (docs/reliability.md): waiting without timed
assertions, reporting the figures of a run, a fault injector for the fake Webex, and a
private Redis server that a test may stop and restart."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from django_webexteams.testing.app import DROP


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] | None = None
) -> Any:
    """Poll ``predicate`` until truthy. ``timeout`` is a deadline for a hung run, not a timing
    assertion: on a slow machine it may be raised, never lowered to prove speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    detail = f"\n{logs()[-8000:]}" if logs is not None else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def report(capsys: Any, text: str) -> None:
    """Print a figure of this run (docs/reliability.md records typical values)."""
    with capsys.disabled():
        print(f"\n[reliability] {text}")


@dataclass
class FaultInjector:
    """Makes the fake Webex misbehave on a share ``rate`` of API requests, at random (seeded).

    Kinds, by weight: ``5xx`` (500/502/503/504 before anything is stored), ``5xx-bad-retry``
    (503 with a malformed ``Retry-After`` such as Webex has sent in production),
    ``drop-before`` (the connection is closed before the fake handles the request),
    ``drop-after`` (the fake stores, then hangs up: the answer is lost), ``timeout`` (the fake
    answers after ``timeout_delay`` seconds, longer than the client's read timeout, and
    stores anyway). ``burst_429`` requests, once, after ``burst_after`` requests, get a 429
    with a malformed ``Retry-After`` (the client then waits its 15 s default).

    ``lost_answers`` lists the message texts Webex stored without the sender learning it
    (drop-after and timeout on ``POST /messages``): each may cost one duplicate.
    """

    fake: Any
    rate: float = 0.3
    seed: int = 20261128
    timeout_delay: float = 1.5
    burst_429: int = 0
    burst_after: int = 100
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "5xx": 0.30,
            "5xx-bad-retry": 0.15,
            "drop-before": 0.20,
            "drop-after": 0.15,
            "timeout": 0.20,
        }
    )
    injected: Counter[str] = field(default_factory=Counter)
    lost_answers: list[str] = field(default_factory=list)
    requests: int = 0
    enabled: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._original = self.fake.app.handle
        self.fake.app.handle = self._handle

    def _decide(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self.burst_429 and self.requests > self.burst_after:
                self.burst_429 -= 1
                return "429-bad-retry"
            if self._rng.random() >= self.rate:
                return None
            kinds, weights = zip(*self.weights.items(), strict=True)
            return str(self._rng.choices(kinds, weights)[0])

    def _error(self, status: int, retry_after: str | None = None) -> Any:
        from django_webexteams.testing.ids import tracking_id

        app = self.fake.app
        tracking = tracking_id()
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        response = app._error(status, "Injected failure.", tracking, headers=headers)
        return app._finish(response, tracking)

    def _handle(self, environ: dict[str, Any]) -> Any:
        if not self.enabled or environ.get("fakewebex.internal"):
            return self._original(environ)
        kind = self._decide()
        if kind is None:
            return self._original(environ)
        with self._lock:
            self.injected[kind] += 1
        post = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/v1/messages"
        if kind == "5xx":
            return self._error(self._rng.choice([500, 502, 503, 504]))
        if kind == "5xx-bad-retry":
            return self._error(503, self._rng.choice(["rand(30),add(30)", "soon", "-", "1e999x"]))
        if kind == "429-bad-retry":
            return self._error(429, "rand(30),add(30)")
        if kind == "drop-before":
            return DROP
        if kind == "timeout":
            time.sleep(self.timeout_delay)
        response = self._original(environ)
        stored = post and response is not DROP and response.status == 200
        if stored and kind in ("drop-after", "timeout"):
            with self._lock:
                self.lost_answers.append(response.body["text"])
        return DROP if kind == "drop-after" else response

    def stop(self) -> None:
        self.enabled = False
        self.fake.app.handle = self._original


@pytest.fixture
def faults() -> Iterator[Callable[..., FaultInjector]]:
    made: list[FaultInjector] = []

    def make(fake: Any, **kwargs: Any) -> FaultInjector:
        injector = FaultInjector(fake, **kwargs)
        made.append(injector)
        return injector

    yield make
    for injector in made:
        injector.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own (never the shared one on 6379, which other tests and
    people use): in memory only, on a free port; ``stop()`` and ``start()`` keep the port."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        log = open(self.workdir / f"redis-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server on {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server (apt-get install redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
