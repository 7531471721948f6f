"""Parsing a verified webhook body: strict JSON, the fields a delivery row needs, the dedupe key.

Runs after the signature check and before anything is stored; a body it refuses gets a 400.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

__all__ = [
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


def dedupe_key(payload: dict[str, Any]) -> str:
    """The key under which a delivery is stored once.

    Webex sends no delivery id and no event timestamp, and a redelivery repeats the event.
    The key is a SHA-256 over the fields that describe the *event* - the webhook id,
    ``resource``, ``event``, ``actorId`` and the whole ``data`` object - in canonical JSON.
    The registration's own fields (``name``, ``status``, ``targetUrl``...) are left out
    because they may change between a delivery and its redelivery. Distinct events differ
    in ``data`` (a new message has a new id; a room update a new ``lastActivity``); the one
    blind spot is an update that ends in exactly the data of an earlier update of the same
    object by the same actor (e.g. moderator on, off, on), which is treated as a redelivery.
    """
    material = {
        "webhook": payload.get("id"),
        "resource": payload.get("resource"),
        "event": payload.get("event"),
        "actor": payload.get("actorId"),
        "data": payload.get("data"),
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()
