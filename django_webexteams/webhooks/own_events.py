"""Self-detection: the person id of the identity that owns a webhook, so that events the bot
caused itself are not dispatched as new work.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django_webexteams.clients import person_id_of
from django_webexteams.events import WebhookEvent
from django_webexteams.models import Credential, Webhook

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

__all__ = [
    "own_person_id",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.webhooks")


def own_person_id(
    webhook: Webhook,
    *,
    client: WebexClient | None = None,
    fallback: str | None = None,
    expected: str | None = None,
) -> str | None:
    """The Webex person id of the identity that owns ``webhook`` (the bot, usually).

    :func:`django_webexteams.clients.person_id_of` of the webhook's credential (the stored
    id, or ``people/me`` cached per API base URL and token and checked again when it
    disagrees with ``expected``, the delivery's ``createdBy``). If the lookup fails and
    nothing is cached, ``fallback`` (the payload's ``createdBy``) is returned.
    """
    return _person_id(webhook.credential, client=client, fallback=fallback, expected=expected)


def _person_id(
    credential: Credential | None,
    *,
    client: WebexClient | None = None,
    fallback: str | None = None,
    expected: str | None = None,
) -> str | None:
    """:func:`person_id_of` ``credential``, or ``fallback`` when the lookup fails and nothing
    is cached (raised without one)."""
    try:
        return person_id_of(credential, client=client, expected=expected)
    except Exception:
        if fallback is None:
            raise
        logger.warning("people/me failed for %r; using the delivery's createdBy", credential)
        return fallback


def _is_own_event(event: WebhookEvent, own_id: str | None = None) -> bool:
    """Whether ``event`` was caused by its receiving identity (``own_id`` when known): the
    webhook's credential, or the one the websocket listener ran as.

    First from facts in the delivery itself, which cannot go stale: ``createdBy`` is the
    identity that registered the webhook at Webex (the token's owner: the bot, for webhooks
    made by :func:`register_webhook`), so an event whose ``actorId`` is ``createdBy`` is the
    bot's own (https://developer.webex.com/docs/webhooks, "Webhook payload"). Then from the
    credential's person id (stored, or ``people/me`` cached and checked against
    ``createdBy``). A wrong answer here makes a bot that answers messages answer itself.
    """
    actor = event.actor_id
    if not actor:
        return False
    if event.created_by and actor == event.created_by:
        return True
    if own_id is None:
        # The receiving identity: the webhook's credential, or the one the websocket listener
        # ran as (whose createdBy, checked above, is its own person id from people/me).
        own_id = _person_id(
            event.credential, fallback=event.created_by or "", expected=event.created_by or None
        )
    return actor == own_id
