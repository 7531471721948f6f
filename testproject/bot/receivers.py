"""The example bot's signal receivers: it answers every message it hears, and thanks people
who submit its feedback card (cards.py).

The webhook receiver (docs/webhooks.md) turns each Webex delivery into Django signals; this
module is what a project writes on top. Events caused by the bot itself (its own replies)
are not dispatched (``WEBHOOK_DISPATCH_OWN_EVENTS`` is off), so it never answers itself.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from django_webexteams.events import WebhookEvent
from django_webexteams.messaging import send_message
from django_webexteams.models import Webhook, WebhookDelivery
from django_webexteams.signals import attachment_action_created, message_created

ECHO_UID = "testproject.bot.echo"
CARD_UID = "testproject.bot.card_submitted"


@receiver(message_created, dispatch_uid=ECHO_UID)
def echo(
    sender: type[Webhook],
    *,
    event: WebhookEvent,
    webhook: Webhook,
    delivery: WebhookDelivery,
    **kwargs: Any,
) -> None:
    """Reply "You said: ..." in the message's thread."""
    # A delivery holds ids only: fetch the message (with the webhook's credential) for its text.
    message = event.fetch()
    send_message(
        room_id=message.room_id,
        # Webex threads are one level deep: answer in the thread, or start one.
        parent_id=message.parent_id or message.id,
        text=f"You said: {message.text}",
        credential=webhook.credential,
        # Reprocessing this delivery must not answer twice: one reply per message.
        idempotency_key=f"echo:{message.id}",
    )


@receiver(attachment_action_created, dispatch_uid=CARD_UID)
def card_submitted(
    sender: type[Webhook],
    *,
    event: WebhookEvent,
    webhook: Webhook,
    delivery: WebhookDelivery,
    **kwargs: Any,
) -> None:
    """Answer a card submission in the card's thread, quoting what was chosen."""
    # The delivery never carries the inputs: fetch the action (as the card's sender).
    action = event.fetch()
    inputs = action.inputs or {}
    comment = str(inputs.get("comment") or "").strip()
    send_message(
        room_id=action.room_id,
        parent_id=action.message_id,
        text=f"Thanks! You rated the demo {inputs.get('rating', '?')}/5"
        + (f' and said "{comment}".' if comment else "."),
        credential=webhook.credential,
        idempotency_key=f"card:{action.id}",
    )
