"""Dispatching a stored delivery: the Django signals (``webhook_received`` and the specific
one), and recording the outcome (processed, failed with every receiver's error, ignored).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from django.db import connections, router
from django.db.models import F
from django.utils import timezone

from django_webexteams import conf, signals
from django_webexteams.events import _DISPATCHING, WebhookEvent
from django_webexteams.models import Webhook, WebhookDelivery
from django_webexteams.webhooks import outcomes
from django_webexteams.webhooks.own_events import _is_own_event

__all__ = [
    "flush_outcomes",
    "process_delivery",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.webhooks")


def _receiver_name(receiver: Any) -> str:
    module = getattr(receiver, "__module__", "?")
    name = getattr(receiver, "__qualname__", None) or repr(receiver)
    return f"{module}.{name}"


def process_delivery(delivery_id: int, *, force: bool = False) -> WebhookDelivery | None:
    """Send the signals for a stored delivery and record the outcome.

    ``webhook_received`` first, then the specific signal from ``signals.EVENT_SIGNALS``,
    with ``sender=Webhook`` and kwargs ``event``, ``webhook``, ``delivery``. Receivers run
    through ``send_robust``: one that raises does not stop the others; the delivery is then
    ``failed`` with every error and traceback, else ``processed``. An event whose actor is
    the webhook's own identity is ``ignored`` (not dispatched) unless
    ``WEBHOOK_DISPATCH_OWN_EVENTS``. A delivery already ``processed`` or ``ignored`` is left
    alone unless ``force``. Returns the delivery (``None`` if the row is gone).
    """
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "webhook__credential", "credential")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        logger.warning("Webhook delivery %s no longer exists", delivery_id)
        return None
    done = (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED)
    if delivery.status in done and not force:
        return delivery
    _count_attempt(delivery)
    delivery.attempts += 1
    if delivery.transport == WebhookDelivery.Transport.WEBHOOK and delivery.webhook is None:
        # Stored while its webhook was being deleted (no foreign key: models.py): whose it
        # was, and with which identity to answer, is gone with it. Not dispatched.
        logger.warning("Webhook delivery %s: its webhook was deleted; ignored", delivery.pk)
        return _finish(
            delivery, WebhookDelivery.Status.IGNORED, error="Its webhook was deleted.", tb=""
        )
    return _process(delivery, durable=True)


def _count_attempt(delivery: WebhookDelivery) -> None:
    """``attempts + 1`` before a dispatch (a worker or ``reprocess``), so that a dispatch that
    never finished (a killed worker) still shows it was tried.

    Trade-off: on PostgreSQL outside a transaction, the UPDATE does not wait for its WAL
    flush (``SET LOCAL synchronous_commit TO OFF`` for that one statement, as the receiver's
    unbatched outcome does). The Celery task commits twice per delivery, this counter and
    the outcome, and the flush waits were most of a worker's time per delivery: with two
    processes on two busy cores it dispatched about 146 deliveries a second. The counter is
    visible at once; only a database crash within ~3 x ``wal_writer_delay`` can lose it,
    and the outcome that follows is durable as before."""
    using = delivery._state.db or router.db_for_write(WebhookDelivery, instance=delivery)
    connection = connections[using]
    qn = connection.ops.quote_name
    if not _update_without_flush_wait(
        connection, f"{qn('attempts')} = {qn('attempts')} + 1", [], delivery.pk
    ):
        WebhookDelivery.objects.using(using).filter(pk=delivery.pk).update(
            attempts=F("attempts") + 1
        )


def _update_without_flush_wait(
    connection: Any, assignments: str, params: list[Any], pk: int
) -> bool:
    """``UPDATE`` the delivery ``pk`` (``SET assignments``, placeholders bound to ``params``)
    without waiting for its WAL flush: ``SET LOCAL synchronous_commit TO OFF`` in the same
    simple query, so it covers this one statement's implicit transaction (client-side
    binding, Django's default for psycopg, allows two statements in one query). Visible to
    every session at once; a database crash within ~3 x ``wal_writer_delay`` can lose it.
    Only on PostgreSQL outside a transaction (inside one, SET LOCAL would cover the caller's
    whole transaction) and without server-side binding; returns ``False`` where it did not
    run, for the caller's plain UPDATE."""
    if (
        connection.vendor != "postgresql"
        or connection.in_atomic_block
        or connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    ):
        return False
    qn = connection.ops.quote_name
    # Identifiers from the model's metadata, quoted; every value is bound.
    sql = (
        f"SET LOCAL synchronous_commit TO OFF; UPDATE {qn(WebhookDelivery._meta.db_table)} "  # noqa: S608
        f"SET {assignments} WHERE {qn('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
    return True


def _process(
    delivery: WebhookDelivery, *, own_id: str | None = None, durable: bool = False
) -> WebhookDelivery:
    """Dispatch a loaded ``delivery`` and record the outcome (see :func:`process_delivery`).

    ``durable=False`` (the receiver's sync path) hands a "processed" or "ignored" outcome to
    the batch writer (PostgreSQL, autocommit; see :mod:`django_webexteams.webhooks.outcomes`)
    or, with ``WEBHOOK_OUTCOME_BATCH_SECONDS = 0``, writes it without waiting for its WAL
    flush; a "failed" one is always written at once and durably.
    """
    failures: list[tuple[Any, BaseException]] = []
    try:
        status = _dispatch(delivery, failures, own_id=own_id)
    except Exception as exc:  # our own bug or a setting: record it, never leave it "received"
        logger.exception("Dispatching webhook delivery %s failed", delivery.pk)
        failures.append((process_delivery, exc))
        status = WebhookDelivery.Status.FAILED
    if failures:
        error = "\n".join(f"{_receiver_name(r)}: {type(e).__name__}: {e}" for r, e in failures)
        tb = "\n".join("".join(traceback.format_exception(e)) for _, e in failures)
        logger.warning("Webhook delivery %s failed in %d receiver(s)", delivery.pk, len(failures))
        return _finish(delivery, WebhookDelivery.Status.FAILED, error=error, tb=tb)
    return _finish(delivery, status, durable=durable)


def _dispatch(
    delivery: WebhookDelivery,
    failures: list[tuple[Any, BaseException]],
    *,
    own_id: str | None = None,
) -> str:
    """Send the signals for ``delivery``, collecting receivers' exceptions in ``failures``;
    returns the status to record."""
    webhook = delivery.webhook  # None: received over the websocket (delivery.credential)
    event = WebhookEvent.from_payload(
        delivery.payload,
        webhook=webhook,
        transport=delivery.transport,
        received_as=delivery.credential if webhook is None else None,
    )
    if not conf.get("WEBHOOK_DISPATCH_OWN_EVENTS") and _is_own_event(event, own_id):
        return WebhookDelivery.Status.IGNORED
    specific = signals.EVENT_SIGNALS.get((event.resource, event.event))
    # While receivers run, send_message knows which event it answers (its loop breaker).
    token = _DISPATCHING.set((event, webhook))
    try:
        for signal in (signals.webhook_received, specific):
            if signal is None:
                continue
            responses = signal.send_robust(
                sender=Webhook, event=event, webhook=webhook, delivery=delivery
            )
            failures.extend((r, res) for r, res in responses if isinstance(res, BaseException))
    finally:
        _DISPATCHING.reset(token)
    return WebhookDelivery.Status.FAILED if failures else WebhookDelivery.Status.PROCESSED


def _finish(
    delivery: WebhookDelivery,
    status: str,
    *,
    error: str = "",
    tb: str = "",
    durable: bool = True,
) -> WebhookDelivery:
    delivery.status = status
    delivery.error = error
    delivery.traceback = tb
    delivery.processed_at = timezone.now()
    using = delivery._state.db or router.db_for_write(WebhookDelivery, instance=delivery)
    connection = connections[using]
    interval = 0.0 if durable or error else outcomes.batch_interval(connection)
    if interval:
        # A success outcome of the receiver's sync path: written by this process's batch
        # writer within WEBHOOK_OUTCOME_BATCH_SECONDS, with many others in one statement and
        # one commit (django_webexteams/outcomes.py says what that trades).
        outcomes.defer(using, delivery.pk, status, delivery.processed_at, interval)
        return delivery
    # Trade-off (docs/webhooks.md, "Performance and its trade-offs"): the delivery row is
    # already durable; only this outcome skips the WAL flush wait. A server crash may lose
    # it, leaving the row "received" (attempts 1), which `webexteams_deliveries reprocess
    # --status received` dispatches again.
    qn = connection.ops.quote_name
    field = WebhookDelivery._meta.get_field("processed_at")
    if not durable and _update_without_flush_wait(
        connection,
        f"{qn('status')} = %s, {qn('error')} = %s, {qn('traceback')} = %s, "
        f"{qn('processed_at')} = %s",
        [status, error, tb, field.get_db_prep_save(delivery.processed_at, connection)],
        delivery.pk,
    ):
        return delivery
    delivery.save(update_fields=["status", "error", "traceback", "processed_at"])
    return delivery


def flush_outcomes() -> int:
    """Write the dispatch outcomes this process has not written yet (sync mode, PostgreSQL,
    outside a transaction: see ``WEBHOOK_OUTCOME_BATCH_SECONDS``); returns how many.

    A background thread does it within the batch interval. Call it where a delivery's
    final status must be read at once after a live request, e.g. in a test.
    """
    return outcomes.flush()
