"""Self-detection: the person id of the identity that owns a webhook, so that events the bot
caused itself are not dispatched as new work.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from django.core.cache import caches

from django_webexteams.clients import IDENTITY_CACHE_SECONDS, client_for, identity_cache_key
from django_webexteams.events import WebhookEvent
from django_webexteams.models import Webhook

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

    A stored credential knows it (``webex_person_id``). For the ``BOT_TOKEN`` it is looked
    up with ``people/me`` and kept in the Django cache under a key naming the API base URL
    and the token (by digest, never the token): the same token is another person at another
    Webex. ``expected`` is what the delivery says (its ``createdBy``, the identity that
    registered the webhook): a cached id that disagrees is checked again with ``people/me``
    (a token reissued to another bot, a restored or shared cache, a fake Webex restarted
    with new ids), and the disagreement itself is remembered so that a webhook registered by
    another identity does not cost a request per delivery. If the lookup fails,
    ``fallback`` (the payload's ``createdBy``) is returned.
    """
    credential = webhook.credential
    if credential is not None and credential.webex_person_id:
        return credential.webex_person_id
    cache = caches["default"]
    key = identity_cache_key(credential)
    person_id = cache.get(key)
    if person_id and (not expected or person_id == expected):
        return str(person_id)
    checked = f"{key}:vs:{hashlib.sha256(expected.encode()).hexdigest()[:16]}" if expected else ""
    if person_id and checked and cache.get(checked) == person_id:
        return str(person_id)  # already checked again: the webhook's registrant is another
    try:
        me = (client or client_for(credential)).people.me()
    except Exception:
        if person_id:  # could not check again: the cached id still counts (with createdBy)
            logger.warning("people/me failed for %r; keeping the cached person id", webhook)
            return str(person_id)
        if fallback is None:
            raise
        logger.warning("people/me failed for %r; using the webhook's createdBy", webhook)
        return fallback
    if person_id and person_id != me.id:
        logger.warning("The cached person id of %r was stale; it is now %s", webhook, me.id)
    cache.set(key, me.id, IDENTITY_CACHE_SECONDS)
    if checked and me.id != expected:
        cache.set(checked, me.id, IDENTITY_CACHE_SECONDS)
    return str(me.id)


def _is_own_event(event: WebhookEvent, webhook: Webhook, own_id: str | None = None) -> bool:
    """Whether ``event`` was caused by ``webhook``'s own identity (``own_id`` when known).

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
        own_id = own_person_id(
            webhook, fallback=event.created_by or "", expected=event.created_by or None
        )
    return actor == own_id
