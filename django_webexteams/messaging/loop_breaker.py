"""The loop breaker: a message that would answer the sending identity's own message is
never sent (defence in depth behind the receiver's own-event check, see ``webhooks.own_events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_webexteams.clients import sender_of
from django_webexteams.events import dispatching

if TYPE_CHECKING:
    from django_webexteams.models import Credential

__all__ = ["_answers_itself"]


def _answers_itself(credential: Credential | None) -> str:
    """Why a message sent now with ``credential`` would answer the sender's own message
    (a loop), or ``""``.

    The loop breaker, behind the own-event check of the webhook receiver (defence in depth:
    if that check is ever wrong, a bot that answers every message answers its own replies
    for ever). It applies while webhook signal receivers run (``events.dispatching()``) for
    a ``messages:created`` event whose actor is the sending identity, known from facts that
    do not go stale: the ``personId`` Webex returned for this token's last posted message
    (``clients.remember_sender``), and, when the reply goes out with the webhook's own
    credential, the delivery's ``createdBy`` (who registered the webhook, or the websocket
    listener's own person id).
    """
    current = dispatching()
    if current is None:
        return ""
    event, _webhook = current
    actor = event.actor_id
    if event.resource != "messages" or event.event != "created" or not actor:
        return ""
    # The receiving identity: the webhook's credential, or the one the listener ran as.
    same_identity = (credential.pk if credential else None) == event.credential_id
    if (same_identity and actor == event.created_by) or actor == sender_of(credential):
        return (
            f"loop breaker: message {event.data_id} was posted by the sending identity "
            "itself; a reply to it is never sent"
        )
    return ""
