"""When a stored delivery is dispatched: in this process after commit (``sync``), or by the
Celery task ``webexteams.process_delivery`` (``celery``), and reprocessing on demand.

The task lives here, next to the code that enqueues it, so that no feature imports
``django_webexteams.tasks`` (which re-exports it for Celery's autodiscovery).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from django_webexteams import conf
from django_webexteams.models import WebhookDelivery
from django_webexteams.webhooks.dispatch import process_delivery
from django_webexteams.webhooks.publish import publish

__all__ = [
    "dispatch_mode",
    "process_delivery_task",
    "reprocess_delivery",
]


# --- configuration ----------------------------------------------------------------------------


def dispatch_mode() -> str:
    """``WEBHOOK_DISPATCH``: ``"sync"`` or ``"celery"`` (anything else is a configuration
    error, raised loudly rather than silently dropping events)."""
    mode = conf.get("WEBHOOK_DISPATCH")
    if mode not in ("sync", "celery"):
        raise ImproperlyConfigured(
            f'WEBEXTEAMS["WEBHOOK_DISPATCH"] must be "sync" or "celery", not {mode!r}.'
        )
    return str(mode)


# --- the task ---------------------------------------------------------------------------------
@shared_task(name="webexteams.process_delivery", ignore_result=True)
def process_delivery_task(delivery_id: int) -> str | None:
    """Send the signals for the stored ``WebhookDelivery`` ``delivery_id`` (enqueued on commit
    by the receiver when ``WEBHOOK_DISPATCH = "celery"``). A receiver that raises marks the
    delivery failed; the task itself does not retry (reprocess with the admin action or
    ``manage.py webexteams_deliveries reprocess``). Returns the delivery's status."""
    delivery = process_delivery(delivery_id)
    return delivery.status if delivery is not None else None


def schedule_dispatch(delivery_id: int) -> None:
    """Dispatch ``delivery_id`` once the current transaction commits (at once outside one).

    ``sync``: :func:`process_delivery` runs in this process. ``celery``: the task
    ``webexteams.process_delivery`` is enqueued with the primary key only. ``robust=True``:
    a failure here (e.g. the broker is down) is logged, and never turns the answer to Webex
    into a 500; the delivery then stays ``received`` and can be reprocessed.
    """
    if dispatch_mode() == "celery":
        callback: Callable[[], Any] = lambda: _enqueue(delivery_id)  # noqa: E731
    else:
        callback = lambda: process_delivery(delivery_id)  # noqa: E731
    transaction.on_commit(callback, robust=True)


def _enqueue(delivery_id: int) -> None:
    queue = conf.get("CELERY_QUEUE")
    options = {"queue": queue} if queue else {}
    # One LPUSH of a message captured once per process where that copy is exact (Redis
    # broker), else apply_async: the enqueue is on the receiver's hot path (publish.py).
    publish(process_delivery_task, delivery_id, options)


def reprocess_delivery(delivery: WebhookDelivery, *, sync: bool | None = None) -> None:
    """Dispatch ``delivery`` again (an admin action and ``webexteams_deliveries reprocess``).

    Receivers see it again, so they should be idempotent. ``sync=None`` follows
    ``WEBHOOK_DISPATCH``; ``True`` runs it now in this process, ``False`` enqueues the task.
    """
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.RECEIVED, error="", traceback=""
    )
    if sync is None:
        sync = dispatch_mode() == "sync"
    if sync:
        transaction.on_commit(lambda: process_delivery(delivery.pk), robust=True)
    else:
        transaction.on_commit(lambda: _enqueue(delivery.pk), robust=True)
