"""The Celery app of the ingest benchmark's ``celery-e2e`` phase (``celery -A benchmarks.e2e
worker``): the test project's app, plus a ``webhook_received`` receiver that records, per
delivery, how long after it was received the receiver ran.

The latency is ``time.time()`` when the receiver runs minus the stored
``WebhookDelivery.received_at`` (set in the request by the receiver view, just before its
INSERT). gunicorn and the worker run on the same host, so both read the same clock. Each
latency (seconds, as text) is ``RPUSH``ed to the Redis list ``BENCH_E2E_KEY`` at
``BENCH_E2E_REDIS_URL`` (the benchmark's own Redis database), which the benchmark reads.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django_webexteams import signals
from testproject.celery import app

__all__ = ["app", "record_latency"]

_client: dict[int, Any] = {}  # one Redis client per process (the pool forks)


def _redis() -> Any:
    pid = os.getpid()
    if pid not in _client:
        import redis

        _client.clear()
        _client[pid] = redis.Redis.from_url(os.environ["BENCH_E2E_REDIS_URL"])
    return _client[pid]


def record_latency(sender: Any, delivery: Any, **kwargs: Any) -> None:
    """Received -> this receiver ran, for ``delivery`` (one sample per delivery)."""
    latency = time.time() - delivery.received_at.timestamp()
    _redis().rpush(os.environ["BENCH_E2E_KEY"], f"{latency:.6f}")


signals.webhook_received.connect(record_latency, dispatch_uid="benchmarks.e2e")
