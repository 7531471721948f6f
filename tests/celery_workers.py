"""Real Celery worker processes for tests, against the real Redis.

The ``celery_workers`` fixture starts ``celery -A testproject worker`` processes that share the
test's database (PostgreSQL: the tests using it must be ``transaction=True`` so that rows are
committed and visible), a Redis broker with a queue of the test's own, a Redis cache for the
shared rate-limit gate, and the fake Webex base URL the test gives. Workers get the network
guard too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.conftest import redis_url

ROOT = Path(__file__).resolve().parent.parent


def database_url_for_workers() -> str:
    """The URL of the database the test is using right now (the test database)."""
    d = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("Celery worker tests need PostgreSQL (see tests/conftest.py)")
    user = d.get("USER") or "postgres"
    password = f":{d['PASSWORD']}" if d.get("PASSWORD") else ""
    host = d.get("HOST") or "127.0.0.1"
    port = d.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{d['NAME']}"


@dataclass
class WorkerGroup:
    queue: str
    broker_url: str
    cache_url: str
    cache_prefix: str
    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, count: int = 1, concurrency: int = 1) -> None:
        for _ in range(count):
            index = len(self.procs)
            log = open(self.log_dir / f"worker{index}.log", "wb")
            cmd = [
                sys.executable, "-m", "celery", "-A", "testproject", "worker",
                "-Q", self.queue, "-c", str(concurrency), "--pool", "prefork",
                "-n", f"w{index}-{self.queue}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-l", "INFO",
            ]  # fmt: skip
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            self.procs.append(proc)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for index, proc in enumerate(self.procs):
            path = self.log_dir / f"worker{index}.log"
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"worker {index} exited:\n{path.read_text()[-3000:]}")
                if b"ready." in path.read_bytes():
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"worker {index} not ready:\n{path.read_text()[-3000:]}")

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Kill worker ``index`` and its pool children (its whole process group)."""
        os.killpg(self.procs[index].pid, sig)
        self.procs[index].wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _drop_broker_pools(app: Any) -> None:
    """Forget the app's cached broker connection and producer pools.

    Celery builds them on first use from the broker URL of that moment, and even an eager
    ``apply_async`` acquires a producer; without this, a test that ran eagerly earlier in the
    process would make this one publish to the old broker URL, where no worker listens.
    """
    from kombu import pools

    app._pool = None
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None
    # Close every pooled broker connection and empty kombu's registries (a closed pool left
    # registered would be handed out again for the same URL: "Acquire on closed pool").
    pools.reset()


@pytest.fixture
def celery_workers(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[Any]:
    """A factory: ``group = celery_workers(api_base_url, count=2, extra_env={...})``.

    Points this test process's Celery app and cache at the same Redis broker/queue/cache as
    the workers, so ``send_message`` and ``.delay()`` here are consumed there.
    """
    from testproject.celery import app

    groups: list[WorkerGroup] = []
    saved = {k: app.conf.get(k) for k in ("broker_url", "task_default_queue", "task_always_eager")}
    saved_caches = settings.CACHES

    def start(
        api_base_url: str, count: int = 1, concurrency: int = 1,
        extra_env: dict[str, str] | None = None, webexteams: dict[str, Any] | None = None,
        broker_url: str | None = None, cache_url: str | None = None,
    ) -> WorkerGroup:  # fmt: skip
        # broker_url / cache_url: another Redis than the shared one (e.g. a private server
        # that a chaos test stops and restarts), for the workers and this process alike.
        queue = f"t-{uuid.uuid4().hex[:10]}"
        broker = broker_url or redis_url(14)
        cache = cache_url or redis_url(13)
        prefix = f"t{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
            "DATABASE_URL": database_url_for_workers(),
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CACHE_URL": cache,
            "CACHE_KEY_PREFIX": prefix,
            "WEBEX_API_BASE_URL": api_base_url,
            "WEBEXTEAMS_TEST_NETWORK_GUARD": "1",
            "PYTHONPATH": str(ROOT),
            "WEBEXTEAMS_EXTRA": json.dumps(webexteams or {}),
            **(extra_env or {}),
        }
        log_dir = tmp_path / f"workers-{queue}"
        log_dir.mkdir()
        group = WorkerGroup(queue, broker, cache, prefix, env, log_dir)
        groups.append(group)
        app.conf["broker_url"] = broker
        app.conf.task_default_queue = queue
        app.conf.task_always_eager = False
        _drop_broker_pools(app)
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": cache,
                "KEY_PREFIX": prefix,
            }
        }
        settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "API_BASE_URL": api_base_url,
                               **(webexteams or {})}  # fmt: skip
        group.start(count, concurrency)
        return group

    yield start
    for group in groups:
        group.stop()
    for key, value in saved.items():
        app.conf[key] = value
    settings.CACHES = saved_caches
    # Broker connections opened here pointed at this test's queue; drop them.
    _drop_broker_pools(app)
