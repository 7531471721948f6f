"""Receiving events without a public URL: the websocket listener (``manage.py
webexteams_listen``).

Webex's own clients receive over a websocket (the "Mercury" path: a device registered with the
device service, a socket per device). The listener turns each activity on it into the same
delivery row, dedupe key, own-event rule and signals as the webhook receiver
(``transport="websocket"``). Experimental: Webex does not document this path as a public API;
docs/deployment.md says how to run it and what it cannot catch up on.

Steps, one module each: ``discovery`` (the catalog), ``devices`` (reuse by name, replace when
stale), ``frames`` (parse and validate), ``resolve`` (activity to a webhook-shaped payload over
REST), ``catchup`` (what the socket missed), ``listen`` (connect, store then ack, reconnect).
"""

from __future__ import annotations

from django_webexteams.listener.listen import Listener, ListenerError, ListenerStats

__all__ = ["Listener", "ListenerError", "ListenerStats"]
