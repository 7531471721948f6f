"""Retry policy used by the transport, and :class:`RetryExecutor` for callers who want to
retry a whole call of their own (what the original .NET library called ``RetryExecutor``).

Rules (SPEC "Client"):
- 5xx and connection errors: retried for idempotent methods only (GET, HEAD, PUT, DELETE),
  at most ``max_retries`` times, exponential backoff with *full jitter*
  (delay = uniform(0, min(backoff_max, backoff_base * 2**attempt))).
  POST is never retried on these: Webex may have created the message already.
- 429 / 423: raised as :class:`RateLimitedError` / :class:`LockedError` by default. With
  ``wait_on_rate_limit=True`` the transport sleeps ``Retry-After`` and resends, as long as the
  total time slept for one call stays within ``max_rate_limit_wait``. This also applies to POST:
  a 429/423 means Webex refused the request before acting on it, so resending cannot duplicate.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import RetryLaterError, ServerError, TransportError

__all__ = ["IDEMPOTENT_METHODS", "RetryExecutor", "RetryPolicy"]

logger = logging.getLogger("django_webexteams.client")

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries. ``sleep`` and ``random`` are injectable so that tests (and
    callers with their own scheduler) never really sleep."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    wait_on_rate_limit: bool = False
    max_rate_limit_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.max_rate_limit_wait < 0:
            raise ValueError("backoff_base, backoff_max and max_rate_limit_wait must be >= 0")

    @classmethod
    def no_retries(cls) -> RetryPolicy:
        """A policy that never retries (every error is raised at once)."""
        return cls(max_retries=0)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based): full jitter."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(attempt, 0)))
        return float(ceiling * self.random())

    def may_retry_failure(self, method: str, attempt: int) -> bool:
        """Whether a 5xx / connection error on ``method`` may be retried after ``attempt``
        earlier retries."""
        return method.upper() in IDEMPOTENT_METHODS and attempt < self.max_retries

    def rate_limit_wait(self, retry_after: float, waited: float) -> float | None:
        """Seconds to sleep before resending after a 429/423, or None to raise instead."""
        if not self.wait_on_rate_limit:
            return None
        if waited + retry_after > self.max_rate_limit_wait:
            return None
        return retry_after


class RetryExecutor:
    """Run any callable and retry it on errors the policy considers transient.

    ``executor.run(fn, *args, **kwargs)`` (or ``executor(fn, ...)``) retries on
    :class:`RetryLaterError` (sleeping ``retry_after`` while the total stays within
    ``policy.max_rate_limit_wait``) and on :class:`ServerError` / :class:`TransportError`
    (backoff with jitter, at most ``policy.max_retries`` times). Unlike the transport, the
    executor does not look at the HTTP method: wrapping a call is the caller's decision that
    it is safe to repeat.

    ``should_retry(exc, attempt) -> bool | None`` overrides the decision (None = default);
    ``on_retry(exc, attempt, delay)`` is called before each sleep (logging, metrics).
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        should_retry: Callable[[BaseException, int], bool | None] | None = None,
        on_retry: Callable[[BaseException, int, float], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.should_retry = should_retry
        self.on_retry = on_retry

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.run(fn, *args, **kwargs)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` until it succeeds or may not be retried any more."""
        failures = 0
        waited = 0.0
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                delay = self._delay(exc, failures, waited)
                if delay is None:
                    raise
                if not isinstance(exc, RetryLaterError):
                    failures += 1
                waited += delay
                if self.on_retry is not None:
                    self.on_retry(exc, failures, delay)
                logger.info("Retrying after %s in %.2fs", type(exc).__name__, delay)
                self.policy.sleep(delay)

    def _delay(self, exc: BaseException, failures: int, waited: float) -> float | None:
        verdict = self.should_retry(exc, failures) if self.should_retry else None
        if verdict is False:
            return None
        if isinstance(exc, RetryLaterError):
            if waited + exc.retry_after > self.policy.max_rate_limit_wait:
                return None
            return exc.retry_after
        if verdict or isinstance(exc, ServerError | TransportError):
            if failures >= self.policy.max_retries:
                return None
            return self.policy.backoff(failures)
        return None
