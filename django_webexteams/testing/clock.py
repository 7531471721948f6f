"""The fake's clock: real time plus an offset that tests move forward.

Token expiry, authorization codes, webhook failure windows and rate-limit windows all read
this clock, so ``fake.clock.advance(3600)`` expires a one-hour token without sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock with a movable offset. ``freeze()`` stops it (useful for exact timestamps)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch on the fake's clock."""
        with self._lock:
            base = self._frozen_at if self._frozen_at is not None else time.time()
            return base + self._offset

    def now(self) -> datetime:
        """Aware UTC datetime on the fake's clock."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float | timedelta) -> None:
        """Move the clock forward (tokens expire, windows roll over)."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        with self._lock:
            self._offset += float(seconds)

    def freeze(self) -> None:
        """Stop the clock at the current instant (``advance`` still moves it)."""
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time()

    def unfreeze(self) -> None:
        """Let the clock run again from where it stands."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset += self._frozen_at - time.time()
                self._frozen_at = None
