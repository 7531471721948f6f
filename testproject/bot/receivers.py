"""The example bot's signal receivers: it answers every message it hears.

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
from django_webexteams.signals import message_created

ECHO_UID = "testproject.bot.echo"


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
