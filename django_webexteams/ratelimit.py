"""Where the operator calls in docs/sending.md (``ratelimit.current_rate(key)``,
``ratelimit.learnt_rate(key)``, ``ratelimit.unblock(key)``) have always found the rate-limit gate.

The gate lives in :mod:`django_webexteams.messaging.ratelimit` (it paces sending); this module
hands on its public names.
"""

from __future__ import annotations

from django_webexteams.messaging.ratelimit import (
    PaceConfig,
    Ticket,
    acquire,
    block,
    blocked_for,
    current_rate,
    forget,
    gate_cache,
    learnt_rate,
    pace_config,
    record_429,
    take_slot,
    unblock,
)

__all__ = [
    "PaceConfig",
    "Ticket",
    "acquire",
    "block",
    "blocked_for",
    "current_rate",
    "forget",
    "gate_cache",
    "learnt_rate",
    "pace_config",
    "record_429",
    "take_slot",
    "unblock",
]
