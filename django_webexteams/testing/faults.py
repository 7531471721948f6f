"""Fault injection: scripted failures, latency, dropped connections and a per-token rate
limit (429 with ``Retry-After``)."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .clock import Clock


@dataclass
class FaultRule:
    """Answer the next ``times`` matching requests with ``status``."""

    status: int
    times: int = 1
    retry_after: float | str | None = None
    method: str | None = None
    path: str | None = None  # prefix of the path without /v1, e.g. "/messages"
    message: str | None = None
    # Only requests made with a token of this person (e.g. "the bot's next POST /messages"),
    # so that a test or the demo can fail one party's call and not another's.
    person_id: str | None = None

    def matches(self, method: str, path: str, person_id: str | None = None) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.person_id and self.person_id != person_id:
            return False
        return not (self.path and not path.startswith(self.path))


@dataclass
class Quirks:
    """Known Webex service faults that clients must survive (off by default)."""

    next_link_max_null: bool = False  # next links carry "max=null"
    next_link_drops_filters: bool = False  # next links lose the original query filters
    # GET /licenses/{id} ignores includeAssignedTo (no "users"), as in organizations where
    # Webex does not support it: clients must fall back (the admin license page scans people).
    license_users_unsupported: bool = False


@dataclass
class RateLimit:
    per_second: float | None = None
    per_minute: float | None = None
    retry_after: float | str | None = None  # fixed value (or malformed string) to send


@dataclass
class Faults:
    """Mutable fault settings, consulted by the app on every API request."""

    clock: Clock
    rules: list[FaultRule] = field(default_factory=list)
    latency: float = 0.0
    latency_path: str | None = None
    drops: int = 0
    drop_path: str | None = None
    rate_limit: RateLimit = field(default_factory=RateLimit)
    quirks: Quirks = field(default_factory=Quirks)
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_rule(
        self, method: str, path: str, caller: Callable[[], str | None] | None = None
    ) -> FaultRule | None:
        """Consume one use of the first matching scripted failure. ``caller`` returns the
        person id behind the request's token (asked only when a rule names a person)."""
        with self._lock:
            person_id = None
            if caller is not None and any(rule.person_id for rule in self.rules):
                person_id = caller()
            for rule in self.rules:
                if rule.matches(method, path, person_id):
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                    return rule
        return None

    def take_drop(self, path: str) -> bool:
        with self._lock:
            if self.drops > 0 and (self.drop_path is None or path.startswith(self.drop_path)):
                self.drops -= 1
                return True
        return False

    def delay_for(self, path: str) -> float:
        if self.latency and (self.latency_path is None or path.startswith(self.latency_path)):
            return self.latency
        return 0.0

    def check_rate(self, token_key: str) -> float | str | None:
        """Record a request for ``token_key``; return a Retry-After when over the limit."""
        rl = self.rate_limit
        if rl.per_second is None and rl.per_minute is None:
            return None
        now = self.clock.time()
        with self._lock:
            hits = self._hits.setdefault(token_key, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            wait = 0.0
            if rl.per_second is not None:
                recent = [t for t in hits if t > now - 1]
                if len(recent) >= rl.per_second:
                    wait = max(wait, recent[0] + 1 - now)
            if rl.per_minute is not None and len(hits) >= rl.per_minute:
                wait = max(wait, hits[0] + 60 - now)
            if wait > 0:
                if rl.retry_after is not None:
                    return rl.retry_after
                # Webex never asks for less than a second.
                return max(1, math.ceil(wait))
            hits.append(now)
        return None
