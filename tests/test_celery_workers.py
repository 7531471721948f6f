"""The worker fixture itself: real worker processes come up on their own queue and answer."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.celery]


def test_workers_start_and_answer_pings(celery_workers: Any) -> None:
    from testproject.celery import app

    group = celery_workers("http://127.0.0.1:9/v1", count=2)
    replies = app.control.ping(timeout=5.0) or []
    names = {name for reply in replies for name in reply}
    assert {f"w0-{group.queue}", f"w1-{group.queue}"} <= {n.split("@")[0] for n in names}
