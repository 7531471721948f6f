"""Step 3: frames. A websocket frame is data from the network: every field is checked before
it is used, and a frame that is not what we expect is skipped (logged without its content),
never fatal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Activity", "Frame", "MalformedFrameError", "parse_frame"]

_MAX_ID = 255


class MalformedFrameError(ValueError):
    """The frame is not a JSON object of the expected shape (the message says which part)."""


@dataclass(frozen=True)
class Activity:
    id: str
    verb: str
    actor_id: str
    actor_email: str
    target_id: str
    target_url: str
    object: dict[str, Any]


@dataclass(frozen=True)
class Frame:
    id: str | None
    activity: Activity | None  # None: a frame that carries no conversation activity


def _str(value: Any, name: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > 4096:
        raise MalformedFrameError(f"{name} is not a usable string")
    if "\x00" in value:
        raise MalformedFrameError(f"{name} contains NUL")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedFrameError(f"{name} is not an object")
    return value


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one frame. Raises :class:`MalformedFrameError`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedFrameError("frame is not JSON") from None
    frame = _dict(data, "frame")
    frame_id = frame.get("id")
    if frame_id is not None:
        frame_id = _str(frame_id, "id")
        if len(frame_id) > _MAX_ID:
            raise MalformedFrameError("id is too long")
    body = frame.get("data")
    if not isinstance(body, dict) or body.get("eventType") != "conversation.activity":
        return Frame(id=frame_id, activity=None)
    act = _dict(body.get("activity"), "data.activity")
    actor = _dict(act.get("actor"), "activity.actor")
    target = act.get("target")
    target = target if isinstance(target, dict) else {}
    obj = act.get("object")
    activity = Activity(
        id=_str(act.get("id"), "activity.id"),
        verb=_str(act.get("verb"), "activity.verb"),
        actor_id=_str(actor.get("id"), "activity.actor.id"),
        actor_email=_str(actor.get("emailAddress"), "actor.emailAddress", required=False),
        target_id=_str(target.get("id"), "activity.target.id", required=False),
        target_url=_str(target.get("url"), "activity.target.url", required=False),
        object=obj if isinstance(obj, dict) else {},
    )
    for value in (activity.id, activity.actor_id, activity.target_id):
        if len(value) > _MAX_ID or "/" in value:
            raise MalformedFrameError("an id is too long or contains '/'")
    return Frame(id=frame_id, activity=activity)
