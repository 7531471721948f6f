"""Parsing of the ``Retry-After`` header as Webex sends it (429 rate limits, 423 files being
scanned).

Webex quirk: malformed values such as ``rand(30),add(30)`` have been seen in production; the
official Webex Python SDK then waits 15 seconds and never less than 1 second. We do the same and
also cap the value, so that a bogus huge number never parks a worker for days.
"""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

DEFAULT_RETRY_AFTER = 15.0
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: Any, *, now: float | None = None) -> float:
    """Seconds to wait, from a header value (delta-seconds or HTTP-date) or a number.

    Missing, empty, negative-but-unparsable or malformed -> 15; result clamped to [1, 3600]."""
    seconds: float | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str | bytes):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        text = text.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _from_http_date(text, now)
    if seconds is None or math.isnan(seconds):
        return DEFAULT_RETRY_AFTER
    if math.isinf(seconds):
        return MAX_RETRY_AFTER if seconds > 0 else MIN_RETRY_AFTER
    return min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def _from_http_date(text: str, now: float | None) -> float | None:
    # RFC 9110 also allows an HTTP-date; Webex does not send one, proxies in front might.
    if not text or not any(c.isalpha() for c in text):
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp() - (time.time() if now is None else now)
