"""Changelist columns shared by the model admins: long Webex ids shown short."""

from __future__ import annotations

import base64

from django.utils.html import format_html

__all__ = ["short_webex_id"]


def short_webex_id(value: str | None) -> str:
    """A Webex id short enough for a changelist column, with the full id in the tooltip.

    Webex ids are base64 of ``ciscospark://<region>/<KIND>/<uuid>`` (76-80 characters, and
    all ids of one kind share their first ~30), so the readable part is the kind and the
    start of the uuid: ``ROOM 3d5a0f12…``. Anything else keeps its last 12 characters.
    """
    if not value:
        return "—"
    if len(value) <= 24:
        return value
    short = "…" + value[-12:]
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        decoded = ""
    if decoded.startswith("ciscospark://"):
        parts = decoded.split("/")
        if len(parts) >= 5 and parts[-1]:
            short = f"{parts[-2]} {parts[-1][:8]}…"
    return format_html('<span class="webexteams-id" title="{}">{}</span>', value, short)
