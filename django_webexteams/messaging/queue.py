"""Putting outbox rows on the Celery queue: the task ``webexteams.deliver_message``, enqueueing
on commit, :func:`resend` and :func:`requeue_stuck`.

The task lives here, next to the code that enqueues it, so that no feature imports
``django_webexteams.tasks`` (which re-exports it for Celery's autodiscovery).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from django_webexteams import conf
from django_webexteams.messaging.delivery import deliver
from django_webexteams.messaging.errors import InvalidMessageError
from django_webexteams.models import OutboundMessage

__all__ = [
    "deliver_message",
    "enqueue_delivery",
    "requeue_stuck",
    "resend",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.messaging")
task_logger = logging.getLogger("django_webexteams.tasks")


# --- the task ---------------------------------------------------------------------------------
# acks_late + reject_on_worker_lost: the broker keeps the task message until the task has
# finished, so a worker killed mid-send (SIGKILL, OOM) leaves it to be delivered again; the
# row's lease (countdown.lease_seconds) keeps the redelivered copy from posting concurrently.
# max_retries=None: delivery.deliver bounds real failures itself (SEND_MAX_ATTEMPTS); waits
# for Retry-After, the shared gate or a lease are not failures and must not use up retries.
@shared_task(
    bind=True,
    name="webexteams.deliver_message",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def deliver_message(
    self: Any,
    pk: int,
    reconcile_since: str | None = None,
    failures: int = 0,
    ticket: str | None = None,
) -> str:
    """Deliver the ``OutboundMessage`` ``pk`` (its primary key only: no token or text in the
    broker; ``ticket`` is the wake-up slot time adaptive pacing gave it). Waiting is a Celery
    countdown, never ``sleep``. Returns the outcome."""
    result = deliver(pk, reconcile_since=reconcile_since, failures=failures, ticket=ticket)
    if result.outcome == "retry":
        task_logger.info("Outbound message %s: retry in %.1fs (%s)", pk, result.countdown,
                         result.reason)  # fmt: skip
        if self.request.is_eager:
            # CELERY_TASK_ALWAYS_EAGER (tests, the docs): an eager retry would run again at
            # once, ignoring the countdown, and spin while the gate is closed. Leave the row
            # queued instead (webexteams_outbox retry --stuck re-enqueues it).
            return result.outcome
        queue = conf.get("CELERY_QUEUE")
        raise self.retry(
            args=(pk,),
            kwargs=result.retry_kwargs,
            countdown=result.countdown,
            max_retries=None,
            **({"queue": str(queue)} if queue else {}),
        )
    return result.outcome


# --- enqueueing -------------------------------------------------------------------------------


def _queue_options() -> dict[str, Any]:
    queue = conf.get("CELERY_QUEUE")
    return {"queue": str(queue)} if queue else {}


def enqueue_delivery(pk: int, *, countdown: float | None = None) -> None:
    """Send the task ``webexteams.deliver_message`` for the row ``pk`` (the primary key only:
    no token or message text travels through the broker). Queue: ``WEBEXTEAMS["CELERY_QUEUE"]``
    when set, else Celery's routing (``CELERY_TASK_ROUTES`` / the default queue)."""
    options = _queue_options()
    if countdown is not None:
        options["countdown"] = countdown
    deliver_message.apply_async(args=(pk,), **options)


def _enqueue_on_commit(pk: int) -> None:
    # robust=True: the caller's transaction has committed by then; a broker outage must not
    # raise into code that already believes the message is queued. The row stays ``queued``
    # and ``manage.py webexteams_outbox retry --stuck`` re-enqueues it.
    # A named function, not functools.partial: Django logs a failing robust callback with
    # ``func.__qualname__``, which a partial lacks, and that AttributeError would escape into
    # the caller after its commit (tests/reliability/test_chaos.py stops the broker).
    def enqueue() -> None:
        _enqueue_logged(pk)

    transaction.on_commit(enqueue, robust=True)


def _enqueue_logged(pk: int) -> None:
    try:
        enqueue_delivery(pk)
    except Exception:
        logger.exception(
            "Could not enqueue outbound message %s; it stays queued "
            "(re-enqueue with manage.py webexteams_outbox retry --stuck)",
            pk,
        )
        raise


def resend(outbound_message: OutboundMessage) -> OutboundMessage:
    """Send a ``failed`` row again (the admin action "send again", ``webexteams_outbox
    retry``): status back to ``queued`` and a new task on commit. Refuses other statuses: a
    ``sent`` row would be posted twice, a ``queued``/``sending`` one is in progress."""
    with transaction.atomic():
        row = OutboundMessage.objects.select_for_update().get(pk=outbound_message.pk)
        if row.status != OutboundMessage.Status.FAILED:
            raise InvalidMessageError(
                f"outbound message {row.pk} is {row.status}; only failed messages can be sent again"
            )
        row.status = OutboundMessage.Status.QUEUED
        row.last_error = ""
        row.save(update_fields=["status", "last_error", "updated_at"])
        _enqueue_on_commit(row.pk)
    outbound_message.refresh_from_db()
    return outbound_message


def requeue_stuck(older_than: timedelta) -> int:
    """Enqueue a task again for rows ``queued`` or ``sending`` untouched for ``older_than``
    (their task was lost: broker flushed, enqueue failed after commit). Safe to run at any
    time: an extra task for a row that is being sent waits for the lease, one for a sent row
    does nothing. Returns how many were enqueued."""
    cutoff = timezone.now() - older_than
    pks = list(
        OutboundMessage.objects.filter(
            status__in=[OutboundMessage.Status.QUEUED, OutboundMessage.Status.SENDING],
            updated_at__lt=cutoff,
        ).values_list("pk", flat=True)
    )
    for pk in pks:
        enqueue_delivery(pk)
    return len(pks)
