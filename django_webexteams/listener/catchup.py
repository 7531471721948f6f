"""Step 5: catching up over REST on what the socket missed.

Webex does not send again what happened while a socket was down. After a reconnect (and at
start, since this identity's newest websocket delivery) the listener lists the spaces active
since then and their messages since then, and stores each one the webhook way: its dedupe key
is the one the socket would have given it, so what was stored already is not dispatched again.

What cannot be caught up (docs/deployment.md): card submissions (no list endpoint for
attachment actions), membership changes and deletions; and, for a bot, messages in group
spaces that do not mention it (Webex lets a bot list only those).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django_webexteams.client import WebexClient
from django_webexteams.listener.resolve import Resolver, message_data

__all__ = ["missed_messages"]

logger = logging.getLogger("django_webexteams.listener")


def missed_messages(
    client: WebexClient,
    resolver: Resolver,
    since: datetime,
    *,
    is_bot: bool,
    stopping: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Payloads of messages created at or after ``since`` in spaces active since then,
    oldest space last (the API lists by last activity, newest first)."""
    for room in client.rooms.list(sort_by="lastactivity", max=100):
        if stopping():
            return
        if room.last_activity is not None and room.last_activity < since:
            return  # sorted by last activity: every later space is older
        mentioned = "me" if is_bot and room.type == "group" else None
        resolver.calls += 1
        for message in client.messages.list(room.id, mentioned_people=mentioned, max=50):
            if message.created is not None and message.created < since:
                break  # newest first
            raw = message.raw
            if raw.get("personId") == resolver.own_id and not resolver.own_events:
                continue
            actor = str(raw.get("personId") or "")
            yield resolver.envelope("messages", "created", actor, message_data(raw))
