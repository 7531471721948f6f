"""How long a delivery waits: the send lease, Celery countdowns with jitter, backoff."""

from __future__ import annotations

import random

from django_webexteams import conf

__all__ = [
    "lease_seconds",
]


def lease_seconds() -> float:
    """How long a claim (status ``sending``) protects a row from other copies of the task:
    ``WEBEXTEAMS["SEND_LEASE_SECONDS"]``, default connect + read timeout + 30 s."""
    value = conf.get("SEND_LEASE_SECONDS")
    if value is not None:
        return float(value)
    connect, read = conf.request_timeout()
    return connect + read + 30.0


def _max_countdown() -> float:
    return float(conf.get("MAX_COUNTDOWN"))


def _jitter(wait: float) -> float:
    # Spread the tasks that waited for the same moment, so they do not all call Webex in the
    # same instant (and trip the limit again): up to a quarter of the wait, 1..30 s.
    return random.uniform(0.0, min(30.0, max(1.0, 0.25 * wait)))


def _wait_countdown(wait: float) -> float:
    """Retry-After / gate / lease waits: the wait plus jitter, capped by MAX_COUNTDOWN (below
    the broker's visibility timeout: a Redis/SQS broker redelivers a task whose ETA lies
    beyond it to another worker). A wait longer than the cap is done in several hops: the
    gate remembers the full wait."""
    return min(wait + _jitter(wait), _max_countdown())


def _backoff_countdown(failures: int) -> float:
    """Exponential backoff with full jitter (uniform in [0, min(MAX, BASE * 2**(n-1))])."""
    base = float(conf.get("SEND_BACKOFF_BASE"))
    cap = float(conf.get("SEND_BACKOFF_MAX"))
    ceiling = min(cap, base * (2 ** max(0, failures - 1)))
    return min(random.uniform(0.0, ceiling), _max_countdown())
