"""Parsing a verified webhook body: strict JSON, the fields a delivery row needs, the dedupe key.

Runs after the signature check and before anything is stored; a body it refuses gets a 400.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

__all__ = [
    "EVENT_KEYED",
    "InvalidPayloadError",
    "dedupe_key",
    "parse_payload",
]


# Column sizes of WebhookDelivery: a longer value is refused as bad input (400) instead of
# reaching the database, where PostgreSQL would raise DataError (a 500).
_MAX_NAME = 64


_MAX_ID = 255


# --- receiving --------------------------------------------------------------------------------


class InvalidPayloadError(ValueError):
    """A correctly signed body that is not a usable Webex webhook payload (answered 400).

    The message names the problem and never contains the body.
    """


def _reject_constant(name: str) -> Any:
    raise InvalidPayloadError(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    # A literal like 1e400 parses to inf, which json.dumps writes back as Infinity and
    # PostgreSQL's jsonb refuses: storing it would answer 500 to a signed but odd body.
    value = float(text)
    if not math.isfinite(value):
        raise InvalidPayloadError("JSON number out of range")
    return value


def _check_strings(value: Any) -> None:
    """Refuse strings PostgreSQL cannot store in jsonb (NUL, lone surrogates): storing them
    would raise DataError and answer 500 to a signed but odd body."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidPayloadError("NUL character in a string")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidPayloadError("invalid unicode in a string") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _short_str(payload: dict[str, Any], key: str, limit: int, *, required: bool) -> str:
    value = payload.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidPayloadError(f"{key!r} must be a non-empty string")
    if len(value) > limit:
        raise InvalidPayloadError(f"{key!r} is too long")
    return value


# json.loads() with hooks builds a decoder per call; this one is built once (it keeps no
# state between calls, so threads can share it).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_payload(body: bytes) -> dict[str, Any]:
    """Parse a (signature-checked) delivery body into the payload dict.

    Requires a JSON object (UTF-8) with string ``resource``, ``event`` and ``data.id``,
    and optional string ``id`` and ``actorId``. Raises :class:`InvalidPayloadError`.
    """
    try:
        payload = _DECODER.decode(body.decode("utf-8"))
    except InvalidPayloadError:
        raise
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayloadError("body is not JSON") from None
    except RecursionError:
        raise InvalidPayloadError("JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidPayloadError("body is not a JSON object")
    _short_str(payload, "resource", _MAX_NAME, required=True)
    _short_str(payload, "event", _MAX_NAME, required=True)
    _short_str(payload, "id", _MAX_ID, required=False)
    _short_str(payload, "actorId", _MAX_ID, required=False)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidPayloadError("'data' must be an object")
    _short_str(data, "id", _MAX_ID, required=True)
    if b"\\u" in body:
        # Only a \u escape can put a NUL or a lone surrogate into a parsed string: strict
        # UTF-8 decoding refuses encoded surrogates and json.loads refuses raw control
        # characters in strings. Without one, the walk is skipped (it runs per delivery).
        _check_strings(payload)
    return payload


#: Events whose ``data.id`` names one event for good (a message is created and deleted once, a
#: card submission and a room are created once): their key leaves out the webhook and the rest
#: of ``data``, so the same event reaching one identity through two webhooks, or through a
#: webhook and the websocket listener (whose ``data`` is rebuilt from REST), is stored once.
#: A membership id names a person in a space, who may join again: its ``created`` is kept.
EVENT_KEYED: dict[tuple[str, str], tuple[str, ...]] = {
    ("messages", "created"): ("id",),
    ("messages", "deleted"): ("id",),
    ("attachmentActions", "created"): ("id",),
    ("rooms", "created"): ("id",),
    ("memberships", "created"): ("id", "created"),
}


def dedupe_key(payload: dict[str, Any]) -> str:
    """The key under which a delivery is stored once, whichever transport brought it.

    Webex sends no delivery id and no event timestamp, and a redelivery repeats the event.
    The key is a SHA-256 in canonical JSON over what describes the *event* for the identity
    that receives it (``createdBy``: who registered the webhook, or the listener's own
    person id), ``resource``, ``event`` and ``actorId``, and then:

    - for the events of :data:`EVENT_KEYED`, only the fields of ``data`` named there (the
      object's id): an event heard through two webhooks of one identity, or through a
      webhook and the websocket, is the same delivery and dispatched once;
    - for every other event, the webhook id and the whole ``data`` object. Distinct updates
      differ in ``data`` (a room update has a new ``lastActivity``); the one blind spot is
      an update that ends in exactly the data of an earlier update of the same object by
      the same actor (e.g. moderator on, off, on), which is treated as a redelivery.

    The registration's own fields (``name``, ``status``, ``targetUrl``...) are left out
    because they may change between a delivery and its redelivery.
    """
    resource = payload.get("resource")
    event = payload.get("event")
    data = payload.get("data")
    keyed = EVENT_KEYED.get((str(resource), str(event))) if isinstance(data, dict) else None
    material: dict[str, Any] = {
        "identity": payload.get("createdBy"),
        "resource": resource,
        "event": event,
        "actor": payload.get("actorId"),
    }
    if keyed is not None and isinstance(data, dict):
        material["data"] = {name: data.get(name) for name in keyed}
    else:
        material["webhook"] = payload.get("id")
        material["data"] = data
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()
