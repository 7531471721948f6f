"""The typed event handed to webhook signal receivers.

A Webex webhook delivery carries ids only for sensitive resources: a ``messages:created``
delivery has the message id, room id and sender, never the text; an ``attachmentActions``
delivery never carries the card inputs (https://developer.webex.com/docs/webhooks, "Handling
Requests from Webex"). :meth:`WebhookEvent.fetch` gets the full object with the webhook's own
credential, which is the identity Webex allows to read it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_datetime

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient
    from django_webexteams.models import Credential, Webhook

__all__ = ["EventNotFetchableError", "WebhookEvent", "dispatching"]

# The event whose signals are being sent, with its webhook (None for an event the websocket
# listener received), while receivers run (set by webhooks._dispatch). send_message reads it
# for its loop breaker: a reply to a message the sender itself posted is never sent.
_DISPATCHING: contextvars.ContextVar[tuple[WebhookEvent, Webhook | None] | None] = (
    contextvars.ContextVar("webexteams_dispatching", default=None)
)


def dispatching() -> tuple[WebhookEvent, Webhook | None] | None:
    """``(event, webhook)`` while webhook signal receivers run in this context, else ``None``.
    ``webhook`` is ``None`` for an event the websocket listener received."""
    return _DISPATCHING.get()


class EventNotFetchableError(LookupError):
    """:meth:`WebhookEvent.fetch` cannot return an object for this event.

    Raised for ``deleted`` events (the object is gone at Webex; ``event.data`` is all there
    is) and for resources without a read endpoint in this app (e.g. ``meetings``).
    """


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _datetime(value: Any) -> datetime | None:
    # The payload is signed but its fields are still data: a malformed timestamp must not
    # keep the event from being dispatched.
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


@dataclass(eq=False)
class WebhookEvent:
    """One Webex webhook event, parsed from a stored delivery payload.

    ``resource`` and ``event`` are Webex's names (``"messages"``, ``"created"``);
    ``data`` is the payload's ``data`` dict (ids; see the module docstring); ``actor_id`` is
    the person whose action caused the event; ``created_by``, ``org_id``, ``app_id``,
    ``owned_by``, ``status``, ``name``, ``filter`` and ``webhook_id`` describe the
    registration the delivery came through; ``raw`` is the whole payload, unknown fields
    included.
    """

    resource: str
    event: str
    data: dict[str, Any]
    raw: dict[str, Any]
    webhook_id: str | None = None
    name: str | None = None
    filter: str | None = None
    actor_id: str | None = None
    created_by: str | None = None
    org_id: str | None = None
    app_id: str | None = None
    owned_by: str | None = None
    status: str | None = None
    #: When the *webhook registration* was created (Webex sends no event timestamp; the
    #: object's own ``data["created"]`` is the closest thing).
    created: datetime | None = None
    webhook: Webhook | None = field(default=None, repr=False)
    #: ``"webhook"`` or ``"websocket"``: how the event reached this process.
    transport: str = "webhook"
    #: The identity a websocket event was received as (``None`` with a webhook, whose
    #: credential :attr:`credential` then returns, or for the bot token from settings).
    received_as: Credential | None = field(default=None, repr=False)
    _fetched: Any = field(default=None, init=False, repr=False)

    @classmethod
    def from_payload(
        cls,
        payload: dict[str, Any],
        *,
        webhook: Webhook | None = None,
        transport: str = "webhook",
        received_as: Credential | None = None,
    ) -> WebhookEvent:
        """Build an event from a delivery payload that :func:`webhooks.parse_payload` accepted
        (or that the websocket listener built in the same shape)."""
        data = payload.get("data")
        return cls(
            resource=str(payload.get("resource", "")),
            event=str(payload.get("event", "")),
            data=dict(data) if isinstance(data, dict) else {},
            raw=payload,
            webhook_id=_str(payload.get("id")),
            name=_str(payload.get("name")),
            filter=_str(payload.get("filter")),
            actor_id=_str(payload.get("actorId")),
            created_by=_str(payload.get("createdBy")),
            org_id=_str(payload.get("orgId")),
            app_id=_str(payload.get("appId")),
            owned_by=_str(payload.get("ownedBy")),
            status=_str(payload.get("status")),
            created=_datetime(payload.get("created")),
            webhook=webhook,
            transport=transport,
            received_as=received_as,
        )

    @property
    def data_id(self) -> str:
        """``data["id"]``: the id of the message, membership, room or card action."""
        return str(self.data.get("id", ""))

    @property
    def room_id(self) -> str | None:
        """``data["roomId"]`` when the event has one (messages, memberships, card actions)."""
        return _str(self.data.get("roomId"))

    @property
    def credential(self) -> Credential | None:
        """The identity that received the event: the webhook's credential, or the one the
        websocket listener ran as (``None``: the bot token from settings)."""
        if self.webhook is not None:
            return self.webhook.credential
        return self.received_as

    @property
    def credential_id(self) -> int | None:
        """The primary key of :attr:`credential` without loading it."""
        if self.webhook is not None:
            return self.webhook.credential_id
        return self.received_as.pk if self.received_as is not None else None

    def client(self) -> WebexClient:
        """A client acting as the receiving identity (the bot token when it has none)."""
        from django_webexteams.clients import client_for

        return client_for(self.credential)

    def fetch(self) -> Any:
        """The full object behind the event, read from Webex with the webhook's credential.

        ``messages`` -> :class:`~django_webexteams.client.Message` (``.text``, ``.files``...),
        ``attachmentActions`` -> ``AttachmentAction`` (``.inputs``), ``rooms`` -> ``Room``,
        ``memberships`` -> ``Membership``. The result is cached on the event, so several
        receivers of one delivery cost one request. Raises :class:`EventNotFetchableError`
        for ``deleted`` events and other resources, and the client's errors
        (``NotFoundError`` if the object was deleted meanwhile, ``RateLimitedError``, ...).
        """
        if self._fetched is not None:
            return self._fetched
        if self.event == "deleted":
            raise EventNotFetchableError(
                f"{self.resource} {self.data_id} was deleted; event.data holds what Webex sent."
            )
        getters = {
            "messages": lambda c: c.messages.get(self.data_id),
            "attachmentActions": lambda c: c.attachment_actions.get(self.data_id),
            "rooms": lambda c: c.rooms.get(self.data_id),
            "memberships": lambda c: c.memberships.get(self.data_id),
        }
        getter = getters.get(self.resource)
        if getter is None:
            raise EventNotFetchableError(f"fetch() does not support resource {self.resource!r}.")
        self._fetched = getter(self.client())
        return self._fetched
