"""The router: ``bot = Bot()``, decorators that route events to small functions.

The router listens to the signals the webhook view sends (``message_created``,
``attachment_action_created``, ``membership_created``, with ``event``, ``webhook`` and
``delivery``) and needs nothing else from a transport: any receiver of Webex events that
sends the same signals with a :class:`~django_webexteams.events.WebhookEvent` (``webhook``
and ``delivery`` may be ``None``), or calls :meth:`Bot.handle` directly, drives the same
handlers. That is how a websocket listener plugs in.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from django_webexteams import signals
from django_webexteams.client.markdown import escape
from django_webexteams.clients import client_for, person_id_of
from django_webexteams.models import Credential

from .access import Access
from .cards import CARD_ID_INPUT, card_id_of, form_card, form_data
from .context import Context
from .parse import mention_names, split_command, strip_mentions

if TYPE_CHECKING:
    from django import forms

    from django_webexteams.client import WebexClient
    from django_webexteams.events import WebhookEvent
    from django_webexteams.models import Webhook, WebhookDelivery

__all__ = ["Bot", "Handler"]

logger = logging.getLogger("django_webexteams.bot")

Handler = Callable[..., Any]

# OutboundMessage.idempotency_key is a 255-character column.
_MAX_KEY = 255
_COMMAND_NAME = re.compile(r"^[\w][\w.-]*$")


@dataclass
class Command:
    name: str
    func: Handler
    help: str
    allow: Access | None
    usage: str


@dataclass
class CardHandler:
    card_id: str
    func: Handler
    form: type[forms.BaseForm] | None
    title: str | None
    submit: str
    allow: Access | None


def _usage(func: Handler) -> str:
    """``<service> [env]`` from ``def deploy(ctx, service, env="staging")``."""
    parts = []
    for param in list(inspect.signature(func).parameters.values())[1:]:
        if param.kind is param.VAR_POSITIONAL:
            parts.append(f"[{param.name}...]")
        elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            parts.append(f"<{param.name}>" if param.default is param.empty else f"[{param.name}]")
    return " ".join(parts)


def _takes_args(func: Handler) -> bool:
    params = list(inspect.signature(func).parameters.values())[1:]
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in params)  # fmt: skip


class Bot:
    """Routes one Webex identity's events to handlers.

    ``credential``: the :class:`~django_webexteams.models.Credential` (or its primary key)
    whose webhooks this bot answers; ``None`` (the default) is the ``WEBEXTEAMS["BOT_TOKEN"]``
    bot, answering webhooks registered without a credential. ``name`` tells bots apart in
    idempotency keys and logs (default ``"default"`` or ``"credential-<pk>"``). ``allow``
    is the rule for the whole bot (:class:`~django_webexteams.bot.Access`). ``connect=False``
    leaves the signals alone (call :meth:`connect` later, or :meth:`handle` yourself).

    Events caused by the bot itself (its own messages, its own card submissions, it adding
    itself to a space) never reach a handler, whatever ``WEBHOOK_DISPATCH_OWN_EVENTS`` says.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        credential: Credential | int | None = None,
        allow: Access | None = None,
        connect: bool = True,
    ) -> None:
        self._credential_pk = credential.pk if isinstance(credential, Credential) else credential
        self.name = name or (
            "default" if self._credential_pk is None else f"credential-{self._credential_pk}"
        )
        self.allow = allow
        self._commands: dict[str, Command] = {}
        self._hears: list[tuple[re.Pattern[str], Handler, Access | None]] = []
        self._cards: dict[str, CardHandler] = {}
        self._joins: list[Handler] = []
        self._fallback: Handler | None = None
        if connect:
            self.connect()

    def __repr__(self) -> str:
        return f"<Bot {self.name!r}>"

    # --- registration -------------------------------------------------------------------------
    def command(
        self, name: str, *, help: str = "", allow: Access | None = None
    ) -> Callable[[Handler], Handler]:
        """Route ``<name> ...`` to the decorated ``func(ctx, *args)``.

        The words after the name are split like a shell would (quotes keep spaces) and
        bound to the handler's parameters after ``ctx``: ``def deploy(ctx, service,
        env="staging")`` takes one or two words, and a wrong count is answered with the
        usage line. A handler taking only ``ctx`` reads ``ctx.args`` / ``ctx.rest``.
        ``allow`` adds a rule for this command (on top of the bot's).
        """
        key = name.strip().lstrip("/").lower()
        if not _COMMAND_NAME.match(key):
            raise ValueError(f"a command name is one word, not {name!r}")

        def decorator(func: Handler) -> Handler:
            self._commands[key] = Command(key, func, help, allow, _usage(func))
            return func

        return decorator

    def hears(
        self, pattern: str | re.Pattern[str], *, flags: int = re.I, allow: Access | None = None
    ) -> Callable[[Handler], Handler]:
        """Route messages matching ``pattern`` (``re.search`` on the text without the bot's
        mention) that are no command to ``func(ctx)``; ``ctx.match`` is the match."""
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)

        def decorator(func: Handler) -> Handler:
            self._hears.append((compiled, func, allow))
            return func

        return decorator

    def on_card_submit(
        self,
        card_id: str,
        *,
        form: type[forms.BaseForm] | None = None,
        title: str | None = None,
        submit: str | None = None,
        allow: Access | None = None,
    ) -> Callable[[Handler], Handler]:
        """Route submissions of the card ``card_id`` to ``func(ctx)``.

        With ``form`` (a Django form class) the card is that form (:meth:`render_card`,
        ``ctx.reply_card(card_id)``), a submission is validated by it, an invalid one is
        answered with the card again showing the errors, and the handler runs only with
        valid input (``ctx.form``, ``ctx.cleaned_data``). Only submissions of a card this bot
        posted with that id are routed (anyone can post a card action with made-up inputs).
        """

        def decorator(func: Handler) -> Handler:
            self._cards[card_id] = CardHandler(
                card_id, func, form, title, submit or _("Submit"), allow
            )
            return func

        return decorator

    def on_join(self, func: Handler) -> Handler:
        """Call ``func(ctx)`` when someone adds the bot to a space (``ctx.membership``)."""
        self._joins.append(func)
        return func

    def fallback(self, func: Handler) -> Handler:
        """Call ``func(ctx)`` for a message that is no command and matches no ``hears``
        (the default answers that the command is unknown and points at ``help``)."""
        self._fallback = func
        return func

    # --- signals ------------------------------------------------------------------------------
    def dispatch_uid(self, signal_name: str) -> str:
        """The ``dispatch_uid`` this bot's receiver of ``signal_name`` is connected with."""
        return f"webexteams.bot:{self.name}:{signal_name}"

    @property
    def message_receiver(self) -> Callable[..., None]:
        return self._message_created

    @property
    def card_receiver(self) -> Callable[..., None]:
        return self._attachment_action_created

    @property
    def membership_receiver(self) -> Callable[..., None]:
        return self._membership_created

    def _pairs(self) -> list[tuple[Any, str, Callable[..., None]]]:
        return [
            (signals.message_created, "message_created", self._message_created),
            (signals.attachment_action_created, "attachment_action_created",
             self._attachment_action_created),
            (signals.membership_created, "membership_created", self._membership_created),
        ]  # fmt: skip

    def connect(self) -> None:
        """Receive the webhook signals. Weak references, like ``@receiver``: a bot nobody
        holds stops answering (keep it in a module, e.g. ``yourapp/bot.py``)."""
        for signal, name, receiver in self._pairs():
            signal.connect(receiver, dispatch_uid=self.dispatch_uid(name))

    def disconnect(self) -> None:
        for signal, name, _receiver in self._pairs():
            signal.disconnect(dispatch_uid=self.dispatch_uid(name))

    def _message_created(self, sender: Any, *, event: WebhookEvent, **kwargs: Any) -> None:
        self.handle(event, webhook=kwargs.get("webhook"), delivery=kwargs.get("delivery"))

    def _attachment_action_created(
        self, sender: Any, *, event: WebhookEvent, **kwargs: Any
    ) -> None:
        self.handle(event, webhook=kwargs.get("webhook"), delivery=kwargs.get("delivery"))

    def _membership_created(self, sender: Any, *, event: WebhookEvent, **kwargs: Any) -> None:
        self.handle(event, webhook=kwargs.get("webhook"), delivery=kwargs.get("delivery"))

    # --- identity -----------------------------------------------------------------------------
    def credential(self) -> Credential | None:
        """This bot's credential row (``None`` for the ``BOT_TOKEN`` bot)."""
        if self._credential_pk is None:
            return None
        return Credential.objects.get(pk=self._credential_pk)

    def client(self, credential: Credential | None = None) -> WebexClient:
        """A client acting as this bot."""
        return client_for(credential if credential is not None else self.credential())

    def person_id(
        self, credential: Credential | None = None, *, expected: str | None = None
    ) -> str:
        """The bot's own Webex person id: the credential's, or ``people/me`` (the package's one
        identity cache, :func:`django_webexteams.clients.person_id_of`: keyed by API base URL
        and token, checked again when it disagrees with ``expected``, an event's
        ``createdBy``)."""
        if credential is None:
            credential = self.credential()
        return person_id_of(credential, client=self.client(credential), expected=expected)

    def answer_key(self, object_id: str, number: int = 1) -> str:
        """The idempotency key of this bot's ``number``-th answer to the Webex object
        ``object_id`` (a message, card action or membership id): the key the outbox row of
        that answer carries, whichever transport brought the event, however often."""
        key = f"webexteams.bot:{self.name}:{object_id}:{number}"
        if len(key) > _MAX_KEY:
            key = "webexteams.bot:" + hashlib.sha256(key.encode()).hexdigest()
        return key

    def _serves(self, event: WebhookEvent, webhook: Webhook | None) -> bool:
        if webhook is not None:
            return webhook.credential_id == self._credential_pk
        if event.transport == "websocket":
            # Received by the listener as some identity: this bot serves its own only.
            return event.credential_id == self._credential_pk
        return True

    # --- cards --------------------------------------------------------------------------------
    def render_card(
        self, card_id: str, *, form: forms.BaseForm | None = None, initial: Any = None
    ) -> tuple[dict[str, Any], str]:
        """``(attachment, fallback text)`` for the form card ``card_id`` (unbound with
        ``initial``, or the given bound ``form`` showing its errors)."""
        handler = self._cards.get(card_id)
        if handler is None or handler.form is None:
            raise LookupError(f"no @on_card_submit({card_id!r}, form=...) on {self!r}")
        shown = form if form is not None else handler.form(initial=initial)
        title = handler.title or ""
        attachment = form_card(shown, card_id, title=title or None, submit=handler.submit)
        fallback = title or _("A form: open it in a Webex app that shows cards.")
        return attachment, fallback

    # --- dispatch -----------------------------------------------------------------------------
    def handle(
        self,
        event: WebhookEvent,
        *,
        webhook: Webhook | None = None,
        delivery: WebhookDelivery | None = None,
    ) -> bool:
        """Route one event; returns whether a handler (or the bot's own answer: help, the
        unknown-command line, a refusal, a card with errors) ran."""
        kind = (event.resource, event.event)
        if kind not in {
            ("messages", "created"),
            ("attachmentActions", "created"),
            ("memberships", "created"),
        }:
            return False
        if not self._serves(event, webhook):
            return False
        if kind == ("memberships", "created") and not self._joins:
            return False  # no people/me lookup for a bot that does not greet
        received = webhook is not None or event.transport == "websocket"
        credential = event.credential if received else self.credential()
        # A webhook's createdBy is who registered it (this bot's token, for the webhooks it
        # serves), and a websocket event's is the listener's own id: a fact of the delivery
        # that cannot go stale, unlike a cached identity.
        registrant = (event.created_by or None) if received else None
        own_id = self.person_id(credential, expected=registrant)
        if event.actor_id and event.actor_id in {own_id, registrant}:
            logger.debug("%r: ignoring its own event %s", self, event.data_id)
            return False
        ctx = Context(self, event, credential=credential, webhook=webhook, delivery=delivery)
        if kind == ("messages", "created"):
            return self._handle_message(ctx, own_id)
        if kind == ("attachmentActions", "created"):
            return self._handle_card(ctx, own_id)
        return self._handle_join(ctx, own_id)

    def _fetch(self, ctx: Context, getter: Callable[[WebexClient], Any]) -> Any:
        # Through the webhook, event.fetch() uses the webhook's credential and caches the
        # object for every receiver of the delivery; from elsewhere, this bot's client.
        if ctx.webhook is not None:
            return ctx.event.fetch()
        return getter(self.client(ctx.credential))

    def _admitted(self, ctx: Context, rule: Access | None, what: str) -> bool:
        for current in (self.allow, rule):
            if current is None or current.allows(ctx):
                continue
            logger.warning(
                "Webex bot %s refused %s (%s) for %s in room %s",
                self.name, ctx.person_id, ctx.person_email, what, ctx.room_id,
            )  # fmt: skip
            if what == "the bot":
                ctx.reply(_("Sorry, you are not allowed to use this bot."))
            else:
                ctx.reply(_("Sorry, you are not allowed to use %(what)s.") % {"what": what})
            return False
        return True

    def _run(self, ctx: Context, func: Handler, *args: Any) -> bool:
        try:
            func(ctx, *args)
        except Exception:
            logger.exception("Webex bot %s: handler %s failed", self.name, func.__qualname__)
            ctx.reply(_("Sorry, something went wrong while handling that."))
            raise
        return True

    def _handle_message(self, ctx: Context, own_id: str) -> bool:
        event = ctx.event
        message = self._fetch(ctx, lambda c: c.messages.get(event.data_id))
        ctx.message = message
        if message.person_id == own_id:
            return False
        names = mention_names(message.html, own_id)
        ctx.text = strip_mentions(message.text or "", names)
        if not self._admitted(ctx, None, "the bot"):
            return True
        line = split_command(ctx.text)
        command = self._commands.get(line.name)
        if command is None and line.name in ("", "help"):
            return self._help(ctx)
        if command is not None:
            ctx.command, ctx.args, ctx.rest = command.name, line.args, line.rest
            if not self._admitted(ctx, command.allow, _('the command "%s"') % command.name):
                return True
            if line.error:
                ctx.reply(
                    _("I could not read that (%(error)s). Usage: %(usage)s")
                    % {"error": line.error, "usage": f"{command.name} {command.usage}".strip()}
                )
                return True
            if _takes_args(command.func):
                try:
                    inspect.signature(command.func).bind(ctx, *line.args)
                except TypeError:
                    usage = f"{command.name} {command.usage}".strip()
                    ctx.reply(_("Usage: %s") % usage)
                    return True
                return self._run(ctx, command.func, *line.args)
            return self._run(ctx, command.func)
        for pattern, func, allow in self._hears:
            match = pattern.search(ctx.text)
            if match is not None:
                ctx.match = match
                if not self._admitted(ctx, allow, _("that")):
                    return True
                return self._run(ctx, func)
        if self._fallback is not None:
            return self._run(ctx, self._fallback)
        # The name is the sender's text going into Markdown: escaped, so that "<@all>" or a
        # link typed as a command is shown, not turned into a mention of everyone or a link.
        ctx.reply(
            markdown=_('Sorry, I do not know the command "%s". Say **help** to see what I can do.')
            % escape(line.name)
        )
        return True

    def help_text(self) -> str:
        """The generated ``help``: one Markdown line per command, with its usage."""
        lines = [_("**Commands**")]
        for name in sorted(self._commands):
            command = self._commands[name]
            usage = f"{name} {command.usage}".strip()
            lines.append(f"- `{usage}`" + (f": {command.help}" if command.help else ""))
        if "help" not in self._commands:
            lines.append("- `help`: " + _("this list"))
        return "\n".join(lines)

    def _help(self, ctx: Context) -> bool:
        ctx.command = "help"
        ctx.reply(markdown=self.help_text())
        return True

    def _handle_card(self, ctx: Context, own_id: str) -> bool:
        event = ctx.event
        action = self._fetch(ctx, lambda c: c.attachment_actions.get(event.data_id))
        ctx.action = action
        if action.person_id == own_id:
            return False
        inputs = dict(action.inputs or {})
        # The card id comes from the bot's own message the action points at, never from the
        # inputs alone: they are the submitter's to choose (anyone in the space can post an
        # attachment action), and a made-up id must not reach a handler for a card the bot
        # never showed (e.g. an "approve" card posted only in another space).
        card_message = self.client(ctx.credential).messages.get(action.message_id or "")
        card_id = card_id_of(card_message.attachments) if card_message.person_id == own_id else None
        claimed = inputs.get(CARD_ID_INPUT, card_id)
        if card_id is None or claimed != card_id:
            logger.warning(
                "Webex bot %s: %s submitted card id %r on message %s, which is not that card",
                self.name, action.person_id, claimed, action.message_id,
            )  # fmt: skip
            return False
        handler = self._cards.get(card_id)
        if handler is None:
            logger.info("Webex bot %s: no handler for card %r", self.name, card_id)
            return False
        ctx.card_message = card_message
        ctx.card_id = card_id
        if not self._admitted(ctx, None, "the bot") or not self._admitted(
            ctx, handler.allow, _("this form")
        ):
            return True
        if handler.form is not None:
            form = handler.form(data=form_data(handler.form, inputs))
            if not form.is_valid():
                attachment, _fallback = self.render_card(card_id, form=form)
                ctx.reply(_("Please correct the errors in the form."), card=attachment)
                return True
            ctx.form, ctx.cleaned_data = form, form.cleaned_data
        return self._run(ctx, handler.func)

    def _handle_join(self, ctx: Context, own_id: str) -> bool:
        data = ctx.event.data
        if data.get("personId") != own_id:
            return False
        ctx.membership = data
        for func in self._joins:
            self._run(ctx, func)
        return True
