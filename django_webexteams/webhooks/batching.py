"""A per-process background writer that takes work off the receiver's hot path in batches.

Two things the receiver must do after a delivery is durably stored do not need to happen
before Webex gets its 200: recording a sync dispatch's successful outcome (outcomes.py) and
enqueueing a Celery dispatch (publish.py). Each hands its items to a :class:`BatchWriter`; a
daemon thread per process wakes when the first item arrives, waits up to the batch interval
for more (less if the batch fills up), writes them with one statement or one command, and
sleeps again: an idle process costs no wake-ups.

What every user of this trades: for up to the interval the work is pending in this process's
memory. A normal exit (gunicorn's graceful restart, ``manage.py``) writes it at exit; a killed
process (SIGKILL, the OOM killer) loses it, and the delivery stays "received", which
``webexteams_deliveries reprocess --status received`` dispatches again. A forked child drops
its parent's items (they are the parent's to write) and starts its own thread. A server that
runs no threads (uWSGI without ``--enable-threads``) is detected: once the oldest item is
several intervals old, the request that adds one writes the batch itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["BATCH_MAX", "STALL_INTERVALS", "BatchWriter"]

logger = logging.getLogger("django_webexteams.webhooks")

#: A batch never holds more items than this (a bounded statement, bounded memory); a full
#: batch wakes the writer at once.
BATCH_MAX = 1000
#: If the writer thread has not run for this many batch intervals, the caller that adds an
#: item writes the batch itself.
STALL_INTERVALS = 10


class BatchWriter:
    """The pending items of one kind and the thread that writes them.

    Subclasses implement :meth:`write_taken` (write what was taken; return how many were
    written and which items to keep for the next batch) and may override :meth:`release`
    (after a batch written by the thread) and :meth:`stopped` (the thread is ending).
    ``interval`` gives the batch interval in seconds (read per batch: it is a setting).
    """

    thread_name = "webexteams-batch"
    #: Whether the first item after a quiet spell waits for the interval too. ``False``
    #: (the Celery publisher): it is written at once, and only items arriving within an
    #: interval of the last batch wait for the next one, so a delivery of a quiet bot is
    #: not delayed by the batching that only pays under load.
    wait_when_idle = True

    def __init__(self, interval: Callable[[], float]) -> None:
        self._interval = interval
        self._lock = threading.Lock()  # guards the fields below
        self._flushing = threading.Lock()  # one batch written at a time (flush() waits)
        self._work = threading.Event()  # items are pending
        self._hurry = threading.Event()  # a full batch, or shutdown: write without waiting
        self._pending: list[Any] = []
        self._oldest = 0.0  # monotonic time the oldest pending item was added
        self._last_batch = -1e9  # monotonic time the last batch was taken
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._atexit = False
        self._stopping = False

    # --- for subclasses ---------------------------------------------------------------------

    def write_taken(self, taken: list[Any]) -> tuple[int, list[Any], set[str]]:
        """Write ``taken``; return (items written, items to retry, database aliases used)."""
        raise NotImplementedError

    def batch_max(self) -> int:
        """Items that make a full batch (written without waiting for the interval)."""
        return BATCH_MAX

    def release(self, touched: set[str]) -> None:
        """After the thread wrote a batch that used the databases ``touched``."""

    def stopped(self) -> None:
        """In the thread, as it ends."""

    # --- the machinery ----------------------------------------------------------------------

    def add(self, item: Any, interval: float) -> None:
        """Queue ``item`` for the next batch (``interval``: the batch interval now)."""
        now = time.monotonic()
        with self._lock:
            if self._pid != os.getpid():
                # A forked child (gunicorn preload, Celery prefork): the parent's thread
                # does not exist here and its pending items are the parent's to write.
                self._pending = []
                self._thread = None
                self._pid = os.getpid()
            if not self._pending:
                self._oldest = now
            self._pending.append(item)
            full = len(self._pending) >= self.batch_max()
            self._start()
            stalled = now - self._oldest > max(interval, 0.01) * STALL_INTERVALS
        if stalled:
            # The thread is not running (a server without threads) or far behind: this
            # caller writes the batch, so nothing waits longer than a few intervals.
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
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._atexit:
            # A normal exit writes what is pending; only a killed process loses items.
            atexit.register(self.shutdown)
            self._atexit = True

    def _run(self) -> None:
        while True:
            self._work.wait()
            try:
                interval = self._interval() or 0.1
            except Exception:  # settings torn down at interpreter exit
                interval = 0.1
            # Gather a batch (unless it is full already): for the interval, or, without
            # wait_when_idle, for what is left of it since the last batch.
            wait = interval
            if not self.wait_when_idle:
                wait = interval - (time.monotonic() - self._last_batch)
            if wait > 0:
                self._hurry.wait(wait)
            with self._lock:
                self._work.clear()
                self._hurry.clear()
                stopping = self._stopping
            try:
                self.flush(release=not stopping)
            except Exception:  # never let the thread die; write_taken() logs what failed
                logger.exception("A background batch of webhook work failed")
            with self._lock:
                if self._pending and not stopping:
                    self._work.set()  # items that came in meanwhile, or are to be retried
            if stopping:
                self.stopped()
                return

    def shutdown(self, timeout: float = 10.0) -> None:
        """Write what is pending and stop the thread (at exit, and before a test run drops
        its database)."""
        with self._lock:
            thread = self._thread if self._pid == os.getpid() else None
            self._stopping = True
        try:
            if thread is not None and thread.is_alive():
                self._work.set()
                self._hurry.set()
                thread.join(timeout)
            self.flush()  # items added while it stopped, or no thread at all
        finally:
            with self._lock:
                self._stopping = False
                self._last_batch = -1e9  # started again, it starts from a quiet spell
                if self._thread is thread:
                    self._thread = None

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, *, release: bool = False) -> int:
        """Write every pending item now; returns how many were written. Waits for a batch
        the thread is writing, so after it returns every item added before the call is
        written (or logged as failed). ``release``: the thread's own call."""
        with self._flushing:
            # What is pending now, not what arrives while it is written: under load the
            # writer would otherwise chase the requests with batches of one or two.
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return 0
            self._last_batch = time.monotonic()
            written, retry, touched = self.write_taken(taken)
            if retry:
                with self._lock:
                    if not self._pending:
                        self._oldest = time.monotonic()
                    self._pending[:0] = retry
        if release:
            self.release(touched)
        return written
