"""Self-detection: the person id of the identity that owns a webhook, so that events the bot
caused itself are not dispatched as new work.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.cache import caches

from django_webexteams.clients import client_for, rate_limit_key
from django_webexteams.events import WebhookEvent
from django_webexteams.models import Credential, Webhook

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

__all__ = [
    "own_person_id",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.webhooks")


# How long the bot's own person id (people/me) is cached. It never changes for a token; the
# cache key names the token (by digest), so a new BOT_TOKEN gets a new entry.
_ME_CACHE_SECONDS = 24 * 3600


# --- dispatch ---------------------------------------------------------------------------------


def _me_cache_key(credential: Credential | None) -> str:
    return f"webexteams:me:{rate_limit_key(credential)}"


def own_person_id(
    webhook: Webhook, *, client: WebexClient | None = None, fallback: str | None = None
) -> str | None:
    """The Webex person id of the identity that owns ``webhook`` (the bot, usually).

    A stored credential knows it (``webex_person_id``). For the ``BOT_TOKEN`` it is looked
    up with ``people/me`` once and kept in the Django cache under a key naming the token
    (by digest, never the token). If that lookup fails, ``fallback`` is returned - the
    payload's ``createdBy``, which is the registering identity for webhooks created by
    :func:`register_webhook`.
    """
    credential = webhook.credential
    if credential is not None and credential.webex_person_id:
        return credential.webex_person_id
    cache = caches["default"]
    key = _me_cache_key(credential)
    person_id = cache.get(key)
    if person_id:
        return str(person_id)
    try:
        me = (client or client_for(credential)).people.me()
    except Exception:
        if fallback is None:
            raise
        logger.warning("people/me failed for %r; using the webhook's createdBy", webhook)
        return fallback
    cache.set(key, me.id, _ME_CACHE_SECONDS)
    return str(me.id)


def _is_own_event(event: WebhookEvent, webhook: Webhook, own_id: str | None = None) -> bool:
    """Whether ``event`` was caused by ``webhook``'s own identity (``own_id`` when known)."""
    if not event.actor_id:
        return False
    if own_id is None:
        own_id = own_person_id(webhook, fallback=event.created_by or "")
    return event.actor_id == own_id
