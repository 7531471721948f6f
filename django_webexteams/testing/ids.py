"""Webex-shaped identifiers and timestamps.

Webex ids are unpadded base64 of ``ciscospark://us/<TYPE>/<uuid>``; membership ids join the
person uuid and the room uuid with ``:``. We use the URL-safe alphabet so that an id can never
contain ``/`` and break path routing (for the characters in these URIs both alphabets agree in
practice).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime


def make_id(kind: str, raw: str | None = None) -> str:
    """Return a Webex id for resource ``kind`` (PEOPLE, ROOM, MESSAGE, ...)."""
    raw = raw or str(uuid.uuid4())
    uri = f"ciscospark://us/{kind}/{raw}"
    return base64.urlsafe_b64encode(uri.encode()).decode().rstrip("=")


def decode_id(value: str) -> tuple[str, str] | None:
    """Return ``(kind, raw)`` for a Webex id, or None when it is not one."""
    try:
        padded = value + "=" * (-len(value) % 4)
        uri = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix = "ciscospark://"
    if not uri.startswith(prefix):
        return None
    parts = uri[len(prefix) :].split("/", 2)
    if len(parts) != 3:
        return None
    return parts[1], parts[2]


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z``, as Webex writes timestamps."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime | None:
    """Parse a Webex timestamp (also accepts offsets and missing milliseconds)."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def tracking_id() -> str:
    """A Webex-style tracking id, e.g. ``ROUTER_62965DE3-DA36-01BB-5E0A-AC12DE1F5E0A``."""
    return "ROUTER_" + str(uuid.uuid4()).upper()
