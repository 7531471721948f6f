"""What a bot handler receives: the event, what was fetched for it, and ways to answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from django_webexteams.messaging import send_message

from .cards import check_card

if TYPE_CHECKING:
    from django import forms

    from django_webexteams.client import AttachmentAction, Message, Person, Room, WebexClient
    from django_webexteams.events import WebhookEvent
    from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery

__all__ = ["BotLike", "Context"]


class BotLike(Protocol):
    """What a context needs of its :class:`~django_webexteams.bot.Bot` (the router builds
    contexts, so this module names it by these members, never by an import)."""

    def client(self, credential: Credential | None = None) -> WebexClient: ...

    def answer_key(self, object_id: str, number: int = 1) -> str: ...

    def render_card(
        self, card_id: str, *, form: forms.BaseForm | None = None, initial: Any = None
    ) -> tuple[dict[str, Any], str]: ...


class Context:
    """One event, as a handler sees it.

    ``event`` is the :class:`~django_webexteams.events.WebhookEvent` (also for events from
    another transport); ``webhook`` and ``delivery`` are the rows it came through (``None``
    when it did not come through the webhook view). For a message: ``message`` (fetched from
    Webex), ``text`` (the bot's mention removed), ``command``, ``args`` and ``rest`` (for
    commands), ``match`` (for :meth:`Bot.hears`). For a card submission: ``action`` (with
    ``inputs``), ``card_message`` (the bot's message holding the card), ``card_id``, and, when
    the handler has a form, ``form`` and its ``cleaned_data``. For :meth:`Bot.on_join`:
    ``membership`` (the bot's new membership, as Webex sent it).

    ``reply()`` answers in the thread of what the person did; ``say()`` posts in the space.
    Both go through :func:`~django_webexteams.messaging.send_message` with an idempotency key
    made of the bot's name, the event's object id and the answer's number within this
    handling: handling the same event again (a redelivery that slipped through, a reprocess
    from the admin, the same message seen through another transport) queues nothing new.
    """

    def __init__(
        self,
        bot: BotLike,
        event: WebhookEvent,
        *,
        credential: Credential | None,
        webhook: Webhook | None = None,
        delivery: WebhookDelivery | None = None,
    ) -> None:
        self.bot = bot
        self.event = event
        self.credential = credential
        self.webhook = webhook
        self.delivery = delivery
        self.message: Message | None = None
        self.action: AttachmentAction | None = None
        self.card_message: Message | None = None
        self.membership: dict[str, Any] | None = None
        self.text = ""
        self.command: str | None = None
        self.args: list[str] = []
        self.rest = ""
        self.match: Any = None
        self.card_id: str | None = None
        self.form: forms.BaseForm | None = None
        self.cleaned_data: dict[str, Any] | None = None
        self._answers = 0
        self._person: Person | None = None
        self._room: Room | None = None

    def __repr__(self) -> str:
        return f"<Context {self.event.resource}:{self.event.event} {self.event.data_id[:24]}>"

    # --- who and where ------------------------------------------------------------------------
    @property
    def person_id(self) -> str | None:
        """The person who sent the message, submitted the card, or added the bot."""
        if self.message is not None:
            return self.message.person_id
        if self.action is not None:
            return self.action.person_id
        return self.event.actor_id

    @property
    def person_email(self) -> str | None:
        """The sender's e-mail: from the message itself, else from ``sender`` (one request)."""
        if self.message is not None and self.message.person_email:
            return self.message.person_email
        if not self.person_id:
            return None
        emails = self.sender.emails or []
        return str(emails[0]) if emails else None

    def person_org_id(self) -> str | None:
        """The sender's Webex organisation id (``sender.org_id``; one request the first time)."""
        return self.sender.org_id if self.person_id else None

    @property
    def sender(self) -> Person:
        """The sender as a :class:`~django_webexteams.client.Person`, fetched once."""
        if self._person is None:
            if not self.person_id:
                raise LookupError("this event has no sender")
            self._person = self.bot.client(self.credential).people.get(self.person_id)
        return self._person

    @property
    def room_id(self) -> str | None:
        if self.message is not None and self.message.room_id:
            return self.message.room_id
        if self.action is not None and self.action.room_id:
            return self.action.room_id
        return self.event.room_id

    @property
    def room_type(self) -> str | None:
        """``"direct"`` (a 1:1 space) or ``"group"``."""
        if self.message is not None and self.message.room_type:
            return self.message.room_type
        value = self.event.data.get("roomType")
        if isinstance(value, str):
            return value
        return self.space.type

    @property
    def is_direct(self) -> bool:
        return self.room_type == "direct"

    @property
    def space(self) -> Room:
        """The space as a :class:`~django_webexteams.client.Room`, fetched once."""
        if self._room is None:
            if not self.room_id:
                raise LookupError("this event has no space")
            self._room = self.bot.client(self.credential).rooms.get(self.room_id)
        return self._room

    @property
    def thread_id(self) -> str | None:
        """The message a reply threads under. Webex threads are one level deep: a reply to a
        reply goes under the thread's first message."""
        anchor = self.card_message if self.action is not None else self.message
        if anchor is None:
            return None
        return anchor.parent_id or anchor.id

    # --- answering ----------------------------------------------------------------------------
    def next_key(self) -> str:
        """The idempotency key of the next answer (see the class docstring)."""
        self._answers += 1
        return self.bot.answer_key(self.event.data_id, self._answers)

    def _send(
        self,
        *,
        parent_id: str | None,
        text: Any = None,
        markdown: Any = None,
        card: Any = None,
        **kwargs: Any,
    ) -> OutboundMessage:
        if card is not None:
            check_card(card)
        if not self.room_id:
            raise LookupError("this event has no space to answer in")
        return send_message(
            room_id=self.room_id,
            parent_id=parent_id,
            text=text,
            markdown=markdown,
            attachments=card,
            credential=self.credential,
            idempotency_key=self.next_key(),
            **kwargs,
        )

    def reply(
        self, text: Any = None, *, markdown: Any = None, card: Any = None, **kwargs: Any
    ) -> OutboundMessage:
        """Answer in the thread of the message or card. ``kwargs`` go to ``send_message``
        (``file=``...). Returns the outbox row (a second handling returns the first row)."""
        return self._send(
            parent_id=self.thread_id, text=text, markdown=markdown, card=card, **kwargs
        )

    def say(
        self, text: Any = None, *, markdown: Any = None, card: Any = None, **kwargs: Any
    ) -> OutboundMessage:
        """Post in the space, outside any thread."""
        return self._send(parent_id=None, text=text, markdown=markdown, card=card, **kwargs)

    def reply_card(
        self,
        card_id: str,
        *,
        initial: dict[str, Any] | None = None,
        text: str | None = None,
        thread: bool = True,
    ) -> OutboundMessage:
        """Answer with the card of the form registered by ``@bot.on_card_submit(card_id,
        form=...)``, showing ``initial`` values. ``text`` is what clients that cannot show
        cards display (default: the card's title)."""
        attachment, fallback = self.bot.render_card(card_id, initial=initial)
        send = self.reply if thread else self.say
        return send(text or fallback, card=attachment)
