"""The way people send Webex messages from Celery today: a task calling the official SDK.

A tiny Celery app of the benchmark's own (no Django): ``send_message`` posts with
``webexpythonsdk.WebexAPI`` and its defaults, i.e. ``wait_on_rate_limit=True``: on a 429 the
SDK sleeps ``Retry-After`` inside the task and tries again. Nothing is stored, nothing is
shared between workers. Environment: ``BASELINE_BROKER_URL``, ``BASELINE_QUEUE``,
``BASELINE_API_BASE_URL``, ``BASELINE_TOKEN``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

app = Celery("bench_baseline")
app.conf.update(
    broker_url=os.environ.get("BASELINE_BROKER_URL", "redis://127.0.0.1:6379/11"),
    task_default_queue=os.environ.get("BASELINE_QUEUE", "bench-baseline"),
    task_ignore_result=True,
    # The settings a careful project would use for at-least-once delivery.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)

_api: Any = None


def api() -> Any:
    """One SDK object per worker process (module-level, as projects usually keep it)."""
    global _api
    if _api is None:
        import webexpythonsdk

        _api = webexpythonsdk.WebexAPI(
            access_token=os.environ["BASELINE_TOKEN"],
            base_url=os.environ["BASELINE_API_BASE_URL"].rstrip("/") + "/",
        )
    return _api


@app.task(name="baseline.send_message")
def send_message(room_id: str, text: str) -> str:
    return str(api().messages.create(roomId=room_id, text=text).id)
