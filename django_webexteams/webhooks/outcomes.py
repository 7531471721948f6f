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

import atexit
import logging
import os
import threading
import time
from datetime import datetime
from typing import Any

from django.db import connections

from django_webexteams import conf

__all__ = ["batch_interval", "defer", "flush", "shutdown"]

logger = logging.getLogger("django_webexteams.webhooks")

#: A batch never holds more rows than this (a bounded statement, bounded memory); a full
#: batch wakes the writer at once.
BATCH_MAX = 1000
#: Rows whose write failed are retried this many times (one per batch interval), then left
#: "received" for ``reprocess`` with an error in the log.
_MAX_TRIES = 5
#: If the writer thread has not run for this many batch intervals (a server that does not
#: run threads, e.g. uWSGI without --enable-threads), the request that adds a row writes
#: the batch itself.
_STALL_INTERVALS = 10


def _interval() -> float:
    """``WEBHOOK_OUTCOME_BATCH_SECONDS`` as seconds (0: no batching)."""
    return float(conf.get("WEBHOOK_OUTCOME_BATCH_SECONDS") or 0)


def batch_interval(connection: Any) -> float:
    """The batch interval if an outcome written on ``connection`` now may be deferred to the
    batch writer, else 0 (another database, inside a transaction, batching turned off)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0.0
    return _interval()


class _Writer:
    """One per process: the pending rows and the thread that writes them.

    The thread sleeps until a row is deferred, waits up to one batch interval for more
    (less if the batch fills up), writes them, and sleeps again: an idle process costs no
    wake-ups.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the fields below
        self._flushing = threading.Lock()  # one batch written at a time (flush() waits)
        self._work = threading.Event()  # rows are pending
        self._hurry = threading.Event()  # a full batch, or shutdown: write without waiting
        self._pending: list[tuple[str, int, str, datetime, int]] = []
        self._oldest = 0.0  # monotonic time the oldest pending row was deferred
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._atexit = False
        self._stopping = False

    def defer(self, using: str, pk: int, status: str, at: datetime, interval: float) -> None:
        now = time.monotonic()
        with self._lock:
            if self._pid != os.getpid():
                # A forked child (gunicorn preload, Celery prefork): the parent's thread
                # does not exist here and its pending rows are the parent's to write.
                self._pending = []
                self._thread = None
                self._pid = os.getpid()
            if not self._pending:
                self._oldest = now
            self._pending.append((using, pk, status, at, 0))
            full = len(self._pending) >= BATCH_MAX
            self._start()
            stalled = now - self._oldest > max(interval, 0.01) * _STALL_INTERVALS
        if stalled:
            # The thread is not running (a server without threads) or far behind: this
            # request writes the batch, so nothing waits longer than a few intervals.
            self.flush()
            return
        if not self._work.is_set():
            self._work.set()
        if full:
            self._hurry.set()

    def _start(self) -> None:
        # Called with self._lock held.
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="webexteams-outcomes", daemon=True)
        self._thread.start()
        if not self._atexit:
            # A normal exit (gunicorn's graceful worker restart, manage.py) writes what is
            # pending; only a killed process leaves rows "received".
            atexit.register(self.shutdown)
            self._atexit = True

    def _run(self) -> None:
        while True:
            self._work.wait()
            try:
                interval = _interval() or 0.1
            except Exception:  # settings torn down at interpreter exit
                interval = 0.1
            self._hurry.wait(interval)  # gather a batch, unless it is full already
            with self._lock:
                self._work.clear()
                self._hurry.clear()
                stopping = self._stopping
            try:
                self.flush(release=not stopping)
            except Exception:  # never let the thread die; flush() logs what failed
                logger.exception("Writing webhook delivery outcomes failed")
            with self._lock:
                if self._pending and not stopping:
                    self._work.set()  # rows that came in meanwhile, or are to be retried
            if stopping:
                connections.close_all()  # this thread's connections only
                return

    def shutdown(self, timeout: float = 10.0) -> None:
        """Write what is pending, stop the thread and close its database connections (at
        exit, and before a test run drops its database)."""
        with self._lock:
            thread = self._thread if self._pid == os.getpid() else None
            self._stopping = True
        try:
            if thread is not None and thread.is_alive():
                self._work.set()
                self._hurry.set()
                thread.join(timeout)
            self.flush()  # rows added while it stopped, or no thread at all
        finally:
            with self._lock:
                self._stopping = False
                if self._thread is thread:
                    self._thread = None

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, *, release: bool = False) -> int:
        """Write every pending row now; returns how many rows were written. Waits for a
        batch the thread is writing, so after it returns every outcome deferred before the
        call is in the database (or logged as failed). ``release``: the writer thread's
        call, which then applies Django's end-of-request connection policy to its own
        connections."""
        written = 0
        touched: set[str] = set()
        with self._flushing:
            # What is pending now, not what arrives while it is written: under load the
            # writer would otherwise chase the requests with batches of one or two.
            with self._lock:
                taken, self._pending = self._pending, []
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
                        logger.exception(
                            "Writing %d webhook delivery outcome(s) failed", len(chunk)
                        )
                        connections[using].close()  # a broken connection: reconnect next time
                        kept = [(*r[:4], r[4] + 1) for r in chunk if r[4] + 1 < _MAX_TRIES]
                        if len(kept) < len(chunk):
                            logger.error(
                                "%d webhook delivery outcome(s) not written; the deliveries "
                                "stay 'received' (webexteams_deliveries reprocess)",
                                len(chunk) - len(kept),
                            )
                        # This chunk counts a try; the rest of this database's rows wait
                        # for the next batch untouched (the next interval, not a tight loop).
                        retry.extend(kept)
                        retry.extend(rows[start + BATCH_MAX :])
                        break
                    written += len(chunk)
            if retry:
                with self._lock:
                    if not self._pending:
                        self._oldest = time.monotonic()
                    self._pending[:0] = retry
        if release:
            for using in touched:
                # The same policy as at a request's end (CONN_MAX_AGE, errors): the thread
                # does not hold a connection longer than a request would.
                connections[using].close_if_unusable_or_obsolete()
        return written


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
