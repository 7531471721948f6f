"""Django signals sent by django-webexteams.

Webhook signals (``webhook_received`` and the per-event ones) are sent with the keyword
arguments:

``event``
    a :class:`django_webexteams.events.WebhookEvent` (``resource``, ``event``, ``actor_id``,
    ``data``, ``created_by``, ``org_id``, ``app_id``, ``owned_by``, ``status``, ``raw``;
    ``event.fetch()`` returns the full message or card submission).
``webhook``
    the :class:`~django_webexteams.models.Webhook` row the delivery came through.
``delivery``
    the stored :class:`~django_webexteams.models.WebhookDelivery`.

``sender`` is the ``Webhook`` model class for webhook signals.

``webhook_received`` is sent for every accepted event; the specific signal for the
resource/event pair (e.g. ``message_created``) is sent right after it.
"""

from __future__ import annotations

from django.dispatch import Signal

# --- webhook deliveries (kwargs: event, webhook, delivery) -------------------------------------
# Sent for every delivery, always with sender=Webhook: use_caching keeps the list of live
# receivers per sender (as Django's model signals do), instead of filtering every receiver
# on every send. Connecting or disconnecting clears it.
webhook_received = Signal(use_caching=True)
message_created = Signal(use_caching=True)
message_deleted = Signal(use_caching=True)
membership_created = Signal(use_caching=True)
membership_updated = Signal(use_caching=True)
membership_deleted = Signal(use_caching=True)
room_created = Signal(use_caching=True)
room_updated = Signal(use_caching=True)
attachment_action_created = Signal(use_caching=True)

#: (resource, event) -> the specific signal sent after ``webhook_received``.
EVENT_SIGNALS: dict[tuple[str, str], Signal] = {
    ("messages", "created"): message_created,
    ("messages", "deleted"): message_deleted,
    ("memberships", "created"): membership_created,
    ("memberships", "updated"): membership_updated,
    ("memberships", "deleted"): membership_deleted,
    ("rooms", "created"): room_created,
    ("rooms", "updated"): room_updated,
    ("attachmentActions", "created"): attachment_action_created,
}

# --- sending (kwargs: outbound_message; message_failed adds error) ----------------------------
#: Sent when an OutboundMessage was accepted by Webex. kwargs: ``outbound_message``.
message_sent = Signal()
#: Sent when an OutboundMessage failed for good. kwargs: ``outbound_message``, ``error``.
message_failed = Signal()

# --- credentials (kwargs: credential; connected adds user, request) ---------------------------
#: A user connected their Webex account. kwargs: ``credential``, ``user``, ``request``.
credential_connected = Signal()
#: An access token was refreshed. kwargs: ``credential``.
credential_refreshed = Signal()
#: Webex rejected the refresh token; the credential is now inactive. kwargs: ``credential``.
credential_revoked = Signal()

# --- webhook health (kwargs: webhook, reactivated) --------------------------------------------
#: Webex reports the webhook ``inactive`` (too many failed deliveries).
#: kwargs: ``webhook``, ``reactivated`` (bool: whether it was reactivated automatically).
webhook_disabled = Signal()
