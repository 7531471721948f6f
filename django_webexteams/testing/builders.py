"""Payload builders: Webex-shaped JSON for tests that do not need a running fake (e.g. a
webhook receiver's unit tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .delivery import sign
from .ids import iso, make_id

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def _now() -> str:
    return iso(datetime.now(UTC)) or ""


def adaptive_card(
    body: list[dict[str, Any]] | None = None, actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An attachment dict for ``POST /messages`` with an Adaptive Card 1.2."""
    return {
        "contentType": CARD_CONTENT_TYPE,
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": body or [{"type": "Input.Text", "id": "name", "placeholder": "Name"}],
            "actions": actions or [{"type": "Action.Submit", "title": "Send"}],
        },
    }


def message_data(
    *,
    message_id: str | None = None,
    room_id: str | None = None,
    person_id: str | None = None,
    person_email: str = "alice@example.com",
    room_type: str = "group",
    mentioned_people: list[str] | None = None,
) -> dict[str, Any]:
    """The ``data`` of a messages webhook: ids only, no text (as Webex sends it)."""
    data: dict[str, Any] = {
        "id": message_id or make_id("MESSAGE"),
        "roomId": room_id or make_id("ROOM"),
        "roomType": room_type,
        "personId": person_id or make_id("PEOPLE"),
        "personEmail": person_email,
        "created": _now(),
    }
    if mentioned_people:
        data["mentionedPeople"] = mentioned_people
    return data


def webhook_envelope(
    resource: str = "messages",
    event: str = "created",
    data: dict[str, Any] | None = None,
    *,
    webhook_id: str | None = None,
    name: str = "test webhook",
    target_url: str = "https://example.com/webex/webhook/",
    filter: str | None = None,
    actor_id: str | None = None,
    created_by: str | None = None,
    org_id: str | None = None,
    app_id: str | None = None,
    owned_by: str = "creator",
    status: str = "active",
) -> dict[str, Any]:
    """A delivery envelope exactly as the fake (and Webex) POSTs it."""
    if data is None:
        data = message_data() if resource == "messages" else {"id": make_id("UNKNOWN")}
    envelope: dict[str, Any] = {
        "id": webhook_id or make_id("WEBHOOK"),
        "name": name,
        "targetUrl": target_url,
        "resource": resource,
        "event": event,
        "orgId": org_id or make_id("ORGANIZATION"),
        "createdBy": created_by or make_id("PEOPLE"),
        "appId": app_id or make_id("APPLICATION"),
        "ownedBy": owned_by,
        "status": status,
        "created": _now(),
        "actorId": actor_id or data.get("personId") or make_id("PEOPLE"),
        "data": data,
    }
    if filter:
        envelope["filter"] = filter
    return envelope


def signed_body(envelope: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """Serialise an envelope and return ``(body, headers)`` with ``X-Spark-Signature``."""
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-Spark-Signature": sign(secret, body)}


__all__ = ["adaptive_card", "message_data", "sign", "signed_body", "webhook_envelope"]
