"""A test kit for bots: simulate what people do, assert on what the bot sent.

Like Django's ``mail.outbox``: nothing leaves the machine, and a test reads what the bot
queued. A person's message or card submission is made at the fake Webex (so the bot can fetch
it, exactly as from Webex), then delivered to the webhook view as Webex delivers it: the real
envelope, signed with the registration's secret, through Django's test client - the same
path as production, signature check, deduplication and stored delivery included. With
``transport="signal"`` the event goes straight to the webhook signals with ``webhook`` and
``delivery`` set to ``None``, the way another transport (a websocket listener) sends them.

The bot's answers are outbox rows (:func:`~django_webexteams.messaging.send_message`); the kit
delivers them to the fake at once (``deliver=False`` keeps them queued), so a card the bot
sent can be submitted and a reply shows up in the space::

    @pytest.fixture
    def kit(fake_webex, db):
        with BotTestKit(fake_webex, bot=bot) as kit:
            yield kit

    def test_deploy(kit):
        kit.simulate_message("deploy web", space="group")
        assert kit.outbox[-1].text == "Deploying web to staging"
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from django_webexteams import messaging, signals
from django_webexteams.client import generate_secret
from django_webexteams.events import WebhookEvent
from django_webexteams.models import OutboundMessage, Webhook
from django_webexteams.testing.builders import signed_body, webhook_envelope
from django_webexteams.testing.ids import make_id

from .cards import CARD_CONTENT_TYPE

if TYPE_CHECKING:
    from django_webexteams.testing import FakeWebex, Person

    from .router import Bot

__all__ = ["BotTestKit", "Sent", "Simulated"]

# What a messages webhook's data holds (ids and metadata, never the text), as Webex sends it.
_MESSAGE_DATA_KEYS = ("id", "roomId", "roomType", "personId", "personEmail", "mentionedPeople",
                      "mentionedGroups", "files", "parentId", "created", "updated")  # fmt: skip


@dataclass
class Sent:
    """One message the bot queued: the outbox row, read the easy way."""

    row: OutboundMessage

    @property
    def text(self) -> str:
        return str(self.row.text)

    @property
    def markdown(self) -> str:
        return str(self.row.markdown)

    @property
    def room_id(self) -> str:
        return str(self.row.room_id)

    @property
    def parent_id(self) -> str:
        return str(self.row.parent_id)

    @property
    def message_id(self) -> str:
        """The Webex id once delivered (``""`` while queued)."""
        self.row.refresh_from_db(fields=["webex_message_id", "status"])
        return str(self.row.webex_message_id)

    @property
    def card(self) -> dict[str, Any] | None:
        """The card's ``content`` (``body``, ``actions``...), or ``None``."""
        for attachment in self.row.attachments or []:
            if attachment.get("contentType") == CARD_CONTENT_TYPE:
                return dict(attachment["content"])
        return None

    def inputs(self) -> dict[str, Any]:
        """The card's inputs by id, with their shown values (``None`` when empty)."""
        found: dict[str, Any] = {}

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if str(item.get("type", "")).startswith("Input."):
                    found[item["id"]] = item.get("value")
                walk(item.get("items", []))

        walk((self.card or {}).get("body", []))
        return found

    def errors(self) -> list[str]:
        """The error lines the card shows (TextBlocks in the Attention colour)."""
        return [
            str(b["text"])
            for b in (self.card or {}).get("body", [])
            if b.get("type") == "TextBlock" and b.get("color") == "Attention"
        ]

    def __repr__(self) -> str:
        what = "card" if self.card else repr((self.text or self.markdown)[:60])
        return f"<Sent {what} room={self.room_id[:16]}... parent={bool(self.parent_id)}>"


@dataclass
class Simulated:
    """What one simulated event did: ``sent`` (the answers it queued), ``response`` (the
    webhook view's, for ``transport="webhook"``); :meth:`redeliver` sends it again."""

    kit: BotTestKit
    envelope: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    obj: dict[str, Any]
    response: Any = None  # the test client's response
    sent: list[Sent] = field(default_factory=list)

    def redeliver(self) -> Simulated:
        """Deliver the very same signed body again, as Webex does when it retries."""
        return self.kit._deliver(self.envelope, self.obj, body=self.body, headers=self.headers)


class BotTestKit:
    """Drives ``bot`` through the fake Webex. Use as a context manager inside a test with
    database access.

    ``bot_person``: the bot's identity at the fake (default: a new fake bot). For the
    ``BOT_TOKEN`` bot the kit points ``WEBEXTEAMS["BOT_TOKEN"]`` and ``API_BASE_URL`` at the
    fake for the duration; a bot with a credential must have that credential hold
    ``bot_person``'s token. ``WEBHOOK_DISPATCH`` is ``"sync"`` inside the kit, so an event is
    handled before ``simulate_*`` returns.
    """

    def __init__(
        self,
        fake: FakeWebex,
        *,
        bot: Bot | None = None,
        bot_person: Person | None = None,
        client: Client | None = None,
        deliver: bool = True,
    ) -> None:
        self.fake = fake
        self.bot = bot
        self.bot_person = bot_person or fake.add_bot("Test Bot")
        self.client = client or Client()
        self.deliver = deliver
        self._user: Person | None = None
        self._spaces: dict[str, Any] = {}
        self._webhooks: dict[str, Webhook] = {}
        self._since = 0
        self._override: Any = None
        self._last_sender: Person | None = None
        self._outbox: list[Sent] = []

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> BotTestKit:
        current = dict(getattr(settings, "WEBEXTEAMS", None) or {})
        config = {**current, "API_BASE_URL": self.fake.base_url, "WEBHOOK_DISPATCH": "sync"}
        credential = self.bot.credential() if self.bot is not None else None
        if credential is None:
            config["BOT_TOKEN"] = self.bot_person.token
        self._override = override_settings(WEBEXTEAMS=config)
        self._override.enable()
        last = OutboundMessage.objects.order_by("-pk").values_list("pk", flat=True).first()
        self._since = last or 0
        for resource in ("messages", "attachmentActions", "memberships"):
            self._webhooks[resource] = Webhook.objects.create(
                name=f"bot test kit: {resource}",
                resource=resource,
                event="created",
                secret=generate_secret(),
                webex_id=make_id("WEBHOOK"),
                target_url="http://testserver/",
                credential=credential,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._override is not None:
            self._override.disable()
            self._override = None

    # --- people and spaces --------------------------------------------------------------------
    @property
    def user(self) -> Person:
        """The default sender: ``user@example.com`` at the fake."""
        if self._user is None:
            self._user = self.fake.person("user@example.com") or self.fake.add_person(
                "user@example.com", "Test User"
            )
        return self._user

    def group_space(self, sender: Person | None = None, title: str = "Bot test space") -> Any:
        """A group space with ``sender`` (default :attr:`user`) and the bot, made once."""
        sender = sender or self.user
        if sender.id not in self._spaces:
            self._spaces[sender.id] = self.fake.create_room(
                sender, title, members=[self.bot_person]
            )
        return self._spaces[sender.id]

    # --- simulating ---------------------------------------------------------------------------
    def simulate_message(
        self,
        text: str,
        *,
        sender: Person | None = None,
        space: Any = None,
        mention: bool | None = None,
        parent_id: str | None = None,
        transport: str = "webhook",
    ) -> Simulated:
        """``sender`` (default :attr:`user`) writes ``text`` to the bot.

        ``space``: ``None`` for the 1:1 space with the bot, ``"group"`` for
        :meth:`group_space`, or a space (its id, or an object with ``.id``) the bot is in.
        ``mention`` (default: in group spaces only) puts the bot's mention in front, as a
        Webex client does when someone writes "@Bot ..." - bots only hear group messages
        that mention them.
        """
        sender = sender or self.user
        self._last_sender = sender
        room_id = None
        if space == "group":
            room_id = self.group_space(sender).id
        elif space is not None:
            room_id = str(getattr(space, "id", space))
        if mention is None:
            mention = room_id is not None
        message = self.fake.post_message(
            sender,
            room_id,
            to_person=None if room_id else self.bot_person,
            text=None if mention else text,
            markdown=text if mention else None,
            mentions=[self.bot_person] if mention else [],
            parent_id=parent_id,
        )
        data = {k: message[k] for k in _MESSAGE_DATA_KEYS if k in message}
        return self._event("messages", data, actor_id=sender.id, obj=message, transport=transport)

    def simulate_card_submit(
        self,
        card: Sent | OutboundMessage | str,
        inputs: dict[str, Any],
        *,
        sender: Person | None = None,
        transport: str = "webhook",
    ) -> Simulated:
        """``sender`` (default: the last sender, else :attr:`user`) fills in ``inputs`` and
        presses the card's submit button. ``card`` is a :class:`Sent` card, its outbox row,
        or a Webex message id. As in Webex, the button's ``data`` joins the inputs."""
        sender = sender or self._last_sender or self.user
        row = card.row if isinstance(card, Sent) else card
        if isinstance(row, OutboundMessage):
            row.refresh_from_db()
            if not row.webex_message_id:
                raise AssertionError(f"{row!r} was not delivered to the fake (status {row.status})")
            message_id = str(row.webex_message_id)
            content = Sent(row).card or {}
        else:
            message_id = row
            content = {}
            with self.fake.state.lock:
                stored = self.fake.state.messages.get(message_id)
                if stored is not None and stored.attachments:
                    content = stored.attachments[0].get("content", {})
        submitted: dict[str, Any] = {}
        for action in content.get("actions", []):
            if action.get("type") == "Action.Submit" and isinstance(action.get("data"), dict):
                submitted.update(action["data"])
                break
        submitted.update(inputs)
        action = self.fake.submit_card(sender, message_id, submitted)
        data = {k: v for k, v in action.items() if k != "inputs"}
        return self._event(
            "attachmentActions", data, actor_id=sender.id, obj=action, transport=transport
        )

    def simulate_join(
        self, *, by: Person | None = None, title: str = "New space", transport: str = "webhook"
    ) -> Simulated:
        """``by`` (default :attr:`user`) creates a space and adds the bot to it."""
        by = by or self.user
        room = self.fake.create_room(by, title)
        membership = self.fake.add_member(by, room.id, self.bot_person)
        return self._event(
            "memberships", dict(membership), actor_id=by.id, obj=membership, transport=transport
        )

    def _event(
        self,
        resource: str,
        data: dict[str, Any],
        *,
        actor_id: str,
        obj: dict[str, Any],
        transport: str,
    ) -> Simulated:
        hook = self._webhooks[resource]
        envelope = webhook_envelope(
            resource,
            "created",
            data,
            webhook_id=str(hook.webex_id),
            name=str(hook.name),
            target_url=str(hook.target_url),
            actor_id=actor_id,
            created_by=self.bot_person.id,
            org_id=self.fake.org_id,
        )
        if transport == "signal":
            return self._signal(envelope, obj)
        if transport != "webhook":
            raise ValueError('transport is "webhook" or "signal"')
        body, headers = signed_body(envelope, str(hook.secret))
        return self._deliver(envelope, obj, body=body, headers=headers)

    def _deliver(
        self, envelope: dict[str, Any], obj: dict[str, Any], *, body: bytes, headers: dict[str, str]
    ) -> Simulated:
        hook = self._webhooks[envelope["resource"]]
        # The view stores the delivery and dispatches it when the transaction commits; in a
        # test's transaction that never happens, so the kit runs the dispatch itself. What
        # the handlers schedule for their own commit (the outbox's Celery enqueue) is not
        # run: the kit delivers the outbox instead, as the worker would (_collect).
        with TestCase.captureOnCommitCallbacks(execute=False) as dispatches:
            response = self.client.post(
                reverse("webexteams:webhook", kwargs={"uuid": hook.uuid}),
                data=body,
                content_type=headers["Content-Type"],
                headers={"X-Spark-Signature": headers["X-Spark-Signature"]},
            )
        for dispatch in dispatches:
            with TestCase.captureOnCommitCallbacks(execute=False):
                dispatch()
        if response.status_code != 200:
            raise AssertionError(
                f"the webhook view answered {response.status_code}: {response.content[:200]!r}"
            )
        done = Simulated(self, envelope, body, headers, obj, response=response)
        done.sent = self._collect()
        return done

    def _signal(self, envelope: dict[str, Any], obj: dict[str, Any]) -> Simulated:
        event = WebhookEvent.from_payload(json.loads(json.dumps(envelope)))
        signal = signals.EVENT_SIGNALS[(event.resource, event.event)]
        with TestCase.captureOnCommitCallbacks(execute=False):  # see _deliver
            for signal_ in (signals.webhook_received, signal):
                # send(), not send_robust(): a failing handler fails the test with its
                # traceback.
                signal_.send(sender=Webhook, event=event, webhook=None, delivery=None)
        done = Simulated(self, envelope, b"", {}, obj)
        done.sent = self._collect()
        return done

    # --- what the bot sent --------------------------------------------------------------------
    def _collect(self) -> list[Sent]:
        rows = list(OutboundMessage.objects.filter(pk__gt=self._since).order_by("pk"))
        if rows:
            self._since = rows[-1].pk
        if self.deliver:
            for row in rows:
                if row.status != OutboundMessage.Status.SENT:
                    messaging.deliver(row.pk)
                    row.refresh_from_db()
        self._outbox.extend(Sent(r) for r in rows)
        return [Sent(r) for r in rows]

    @property
    def outbox(self) -> list[Sent]:
        """Every message the bot queued since the kit started, oldest first."""
        return list(self._outbox)

    @property
    def cards(self) -> list[Sent]:
        """The messages of :attr:`outbox` that hold a card."""
        return [s for s in self._outbox if s.card is not None]

    def clear(self) -> None:
        """Empty :attr:`outbox` (like ``mail.outbox.clear()``)."""
        self._outbox.clear()

    def messages_in(self, space: Any) -> list[dict[str, Any]]:
        """What a space shows at the fake, oldest first (the bot's delivered answers too)."""
        room_id = str(getattr(space, "id", space))
        return list(reversed(self.fake.messages_in(room_id)))
