"""Batched writes of webhook dispatch outcomes (sync mode, PostgreSQL, autocommit).

In ``WEBHOOK_DISPATCH = "sync"`` the receiver stores a delivery (one INSERT, its durable
commit), answers after dispatching it in the request, and must then record how the dispatch
went. Writing "processed" with one UPDATE per delivery costs a second statement, a second
commit and a non-HOT update of the row (``status`` is indexed) in every request: under load it
was a third of the receiver's cost (docs/benchmarks.md). So successful outcomes
("processed", "ignored") are handed to this module, and a background thread per process
writes them in batches: one ``UPDATE ... FROM unnest(...)`` and one durable commit per batch,
at most ``WEBHOOK_OUTCOME_BATCH_SECONDS`` after the dispatch. A "failed" outcome (with its
error and traceback) is never deferred: the receiver writes it at once.

What this trades (docs/webhooks.md, "Performance and its trade-offs"): for up to the batch
interval a dispatched delivery still reads "received" (attempts 1). If the process dies
before the batch is written (SIGKILL, OOM kill; a normal exit flushes), those rows stay
"received", and ``webexteams_deliveries reprocess --status received`` dispatches them again
- the same recovery as for a worker killed in the middle of a dispatch.

Only PostgreSQL outside a transaction takes this path. Inside ``atomic()`` (and in Django's
``TestCase``) the outcome is part of the caller's transaction and is written at once; other
databases write it at once too (SQLite would serialise the writer thread against the
requests anyway).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connections

from django_webexteams import conf
from django_webexteams.webhooks.batching import STALL_INTERVALS, BatchWriter

__all__ = ["BATCH_MAX", "batch_interval", "defer", "flush", "shutdown"]

logger = logging.getLogger("django_webexteams.webhooks")

#: A batch never holds more rows than this (a bounded statement, bounded memory); a full
#: batch wakes the writer at once.
BATCH_MAX = 1000
#: Rows whose write failed are retried this many times (one per batch interval), then left
#: "received" for ``reprocess`` with an error in the log.
_MAX_TRIES = 5
_STALL_INTERVALS = STALL_INTERVALS


def _interval() -> float:
    """``WEBHOOK_OUTCOME_BATCH_SECONDS`` as seconds (0: no batching)."""
    return float(conf.get("WEBHOOK_OUTCOME_BATCH_SECONDS") or 0)


def batch_interval(connection: Any) -> float:
    """The batch interval if an outcome written on ``connection`` now may be deferred to the
    batch writer, else 0 (another database, inside a transaction, batching turned off)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0.0
    return _interval()


class _Writer(BatchWriter):
    """One per process: the pending outcomes, ``(using, pk, status, at, tries)``, and the
    thread that writes them (batching.py)."""

    thread_name = "webexteams-outcomes"

    def __init__(self) -> None:
        super().__init__(_interval)

    def batch_max(self) -> int:
        return BATCH_MAX

    def defer(self, using: str, pk: int, status: str, at: datetime, interval: float) -> None:
        self.add((using, pk, status, at, 0), interval)

    def write_taken(
        self, taken: list[tuple[str, int, str, datetime, int]]
    ) -> tuple[int, list[Any], set[str]]:
        written = 0
        touched: set[str] = set()
        by_db: dict[str, list[tuple[str, int, str, datetime, int]]] = {}
        for row in taken:
            by_db.setdefault(row[0], []).append(row)
        retry: list[tuple[str, int, str, datetime, int]] = []
        for using, rows in by_db.items():
            touched.add(using)
            for start in range(0, len(rows), BATCH_MAX):
                chunk = rows[start : start + BATCH_MAX]
                try:
                    _write(using, chunk)
                except Exception:
                    logger.exception("Writing %d webhook delivery outcome(s) failed", len(chunk))
                    connections[using].close()  # a broken connection: reconnect next time
                    kept = [(*r[:4], r[4] + 1) for r in chunk if r[4] + 1 < _MAX_TRIES]
                    if len(kept) < len(chunk):
                        logger.error(
                            "%d webhook delivery outcome(s) not written; the deliveries "
                            "stay 'received' (webexteams_deliveries reprocess)",
                            len(chunk) - len(kept),
                        )
                    # This chunk counts a try; the rest of this database's rows wait for
                    # the next batch untouched (the next interval, not a tight loop).
                    retry.extend(kept)
                    retry.extend(rows[start + BATCH_MAX :])
                    break
                written += len(chunk)
        return written, retry, touched

    def release(self, touched: set[str]) -> None:
        for using in touched:
            # The same policy as at a request's end (CONN_MAX_AGE, errors): the thread does
            # not hold a connection longer than a request would.
            connections[using].close_if_unusable_or_obsolete()

    def stopped(self) -> None:
        connections.close_all()  # this thread's connections only


def _write(using: str, rows: list[tuple[str, int, str, datetime, int]]) -> None:
    """One statement (its own durable commit in autocommit) for a batch of outcomes."""
    from django_webexteams.models import WebhookDelivery

    connection = connections[using]
    qn = connection.ops.quote_name
    field = WebhookDelivery._meta.get_field("processed_at")
    # Identifiers come from the model's metadata, quoted; every value is bound. Only rows
    # still "received" change: a row reprocessed or pruned meanwhile is left as it is.
    sql = (
        f"UPDATE {qn(WebhookDelivery._meta.db_table)} AS d "  # noqa: S608
        f"SET {qn('status')} = u.status, {qn('processed_at')} = u.at "
        "FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[]) AS u(id, status, at) "
        f"WHERE d.{qn('id')} = u.id AND d.{qn('status')} = %s"
    )
    params: list[Any] = [
        [r[1] for r in rows],
        [r[2] for r in rows],
        [field.get_db_prep_save(r[3], connection) for r in rows],
        WebhookDelivery.Status.RECEIVED.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


_writer = _Writer()


def defer(using: str, pk: int, status: str, at: datetime, interval: float) -> None:
    """Queue the outcome ``status`` (dispatched at ``at``) of delivery ``pk`` for the
    batch writer of this process; ``interval`` is :func:`batch_interval`'s answer."""
    _writer.defer(using, pk, status, at, interval)


def flush() -> int:
    """Write this process's pending outcomes now and return how many were written.

    For tests and scripts that read a delivery's status right after a live (autocommit)
    request in sync mode; the background thread does it within
    ``WEBHOOK_OUTCOME_BATCH_SECONDS`` otherwise.
    """
    return _writer.flush()


def shutdown() -> None:
    """Write the pending outcomes and stop this process's writer thread, closing its
    database connections (run at exit; a later deferred outcome starts a new thread)."""
    _writer.shutdown()
