"""Route table of the fake Webex: one small module per resource."""

from __future__ import annotations

from .base import Router

router = Router()

# Importing the modules registers their routes on ``router``.
from . import (  # noqa: E402
    admin,
    attachment_actions,
    contents,
    events,
    memberships,
    mercury,
    messages,
    oauth,
    people,
    room_tabs,
    rooms,
    team_memberships,
    teams,
    webhooks,
)

__all__ = [
    "admin",
    "attachment_actions",
    "contents",
    "events",
    "memberships",
    "mercury",
    "messages",
    "oauth",
    "people",
    "room_tabs",
    "rooms",
    "router",
    "team_memberships",
    "teams",
    "webhooks",
]
