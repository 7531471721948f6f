"""Models: Webex credentials, webhook registrations, received deliveries and the outbox.

Models stay thin: the work is in the feature packages (``webhooks/``, ``messaging/``,
``oauth/``) and in ``tokens.py``. Nothing here reads settings at import time (the file
``upload_to`` and the client factory read ``WEBEXTEAMS`` per call).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from django_webexteams import tokens
from django_webexteams.clients import build_client
from django_webexteams.fields import EncryptedTextField

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

__all__ = [
    "Credential",
    "License",
    "OutboundMessage",
    "PrunedDelivery",
    "Space",
    "Webhook",
    "WebhookDelivery",
    "outbox_upload_to",
]

# Webex ids are base64url strings well under 255 characters; 255 leaves room.
_ID_LENGTH = 255


class Credential(models.Model):
    """A Webex access token (a bot's, or a user's from the OAuth integration), encrypted.

    ``WEBEXTEAMS["BOT_TOKEN"]`` is the default credential and has no row: code that takes a
    ``credential`` treats ``None`` as "the bot token from settings"
    (:func:`django_webexteams.clients.client_for`).
    """

    class Kind(models.TextChoices):
        BOT = "bot", _("Bot")
        USER = "user", _("User (OAuth)")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.BOT)
    name = models.CharField(
        _("name"), max_length=200, blank=True, help_text=_("A label for staff.")
    )
    # CASCADE: a user's tokens must not outlive the user.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webex_credentials",
    )
    webex_person_id = models.CharField(
        _("Webex person id"), max_length=_ID_LENGTH, blank=True, db_index=True
    )
    email = models.EmailField(_("e-mail"), blank=True)
    display_name = models.CharField(_("display name"), max_length=255, blank=True)
    org_id = models.CharField(_("Webex organization id"), max_length=_ID_LENGTH, blank=True)
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    access_token = EncryptedTextField(_("access token"))
    refresh_token = EncryptedTextField(_("refresh token"), blank=True, default="")
    expires_at = models.DateTimeField(_("access token expires at"), null=True, blank=True)
    refresh_expires_at = models.DateTimeField(_("refresh token expires at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    last_refreshed_at = models.DateTimeField(_("last refreshed at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Webex credential")
        verbose_name_plural = _("Webex credentials")
        ordering = ("-created_at",)
        constraints = [
            # One credential per Webex identity per Django user. Bots are exempt: the same bot
            # may legitimately be stored twice (e.g. during a token swap).
            models.UniqueConstraint(
                fields=["owner", "webex_person_id"],
                condition=Q(kind="user"),
                name="webexteams_credential_unique_user_person",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["bot", "user"]), name="webexteams_credential_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        label = self.name or self.display_name or self.email or self.webex_person_id
        return f"{self.get_kind_display()}: {label or self.pk}"

    def __repr__(self) -> str:
        # Explicit so that no token can ever end up in a repr (logs, tracebacks).
        return f"<Credential pk={self.pk} kind={self.kind} person={self.webex_person_id!r}>"

    def client(self, **kwargs: Any) -> WebexClient:
        """A :class:`~django_webexteams.client.WebexClient` acting as this credential.

        ``kwargs`` go to ``WebexClient`` (``base_url``, ``timeout`` and ``trusted_hosts``
        default to the settings). The token comes from :meth:`current_access_token`, the one
        hook for OAuth refresh.
        """
        token = self.current_access_token()
        # A 401 on a user (OAuth) token triggers at most one refresh-and-retry per request,
        # through the client's on_unauthorized hook (see django_webexteams.tokens).
        return build_client(token, **tokens.client_kwargs(self, token, kwargs))

    def current_access_token(self) -> str:
        """The access token to use now: :func:`django_webexteams.tokens.get_valid_access_token`
        refreshes a user token that is about to expire, under a row lock, and refuses an
        inactive credential."""
        return str(tokens.get_valid_access_token(self))


class Webhook(models.Model):
    """A webhook registration at Webex, received at ``webexteams:webhook`` (kwarg ``uuid``).

    The ``uuid`` in the URL picks the row (and so the secret) before the body is trusted.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive (disabled by Webex)")
        MISSING = "missing", _("Missing at Webex")

    webex_id = models.CharField(
        _("Webex id"), max_length=_ID_LENGTH, unique=True, null=True, blank=True
    )
    uuid = models.UUIDField(_("URL id"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=255)
    target_url = models.URLField(_("target URL"), max_length=1024, blank=True)
    resource = models.CharField(_("resource"), max_length=64)
    event = models.CharField(_("event"), max_length=64)
    filter = models.CharField(_("filter"), max_length=1024, blank=True)
    secret = EncryptedTextField(_("secret"), blank=True, default="")
    # The secret before the last rotation, accepted for WEBHOOK_SECRET_GRACE_SECONDS after
    # secret_rotated_at (deliveries Webex signed before it took the new one), never after.
    # NULL until the first rotation (no ciphertext of "" stored per webhook).
    previous_secret = EncryptedTextField(_("previous secret"), blank=True, null=True)
    secret_rotated_at = models.DateTimeField(_("secret rotated at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    # null: the bot token from settings. PROTECT: deleting a credential must not silently
    # orphan a registration we could then no longer manage (or switch it to another token).
    credential = models.ForeignKey(
        Credential,
        verbose_name=_("credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="webhooks",
    )
    last_checked_at = models.DateTimeField(_("last checked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Webex webhook")
        verbose_name_plural = _("Webex webhooks")
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["status"], name="webexteams_webhook_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "inactive", "missing"]),
                name="webexteams_webhook_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.resource}:{self.event})"

    def __repr__(self) -> str:
        return f"<Webhook pk={self.pk} uuid={self.uuid} webex_id={self.webex_id!r}>"


class WebhookDelivery(models.Model):
    """One accepted webhook delivery, kept for audit, retry and reprocessing."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")
        IGNORED = "ignored", _("Ignored")

    class Transport(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        WEBSOCKET = "websocket", _("Websocket")

    # db_index=False: the (webhook, received_at) index below serves lookups by webhook.
    # null: an event the websocket listener received has no webhook registration.
    # db_constraint=False: a foreign key's check locks the webhook's row (FOR KEY SHARE, a
    # WAL-logged change of that row, a MultiXact once two inserts overlap) on every
    # delivery, and every delivery of a webhook locks the same row. The receiver's INSERT
    # checks instead that the webhook still exists, in the same statement (a plain index
    # read); deleting a Webhook still deletes its deliveries (Django's CASCADE), and a
    # delivery stored while its webhook was being deleted is dispatched as "ignored".
    webhook = models.ForeignKey(
        Webhook,
        verbose_name=_("webhook"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        db_constraint=False,
        null=True,
        blank=True,
    )
    # The identity a websocket event was received as (null: the bot token from settings).
    # Webhook deliveries leave it null and take the webhook's credential.
    credential = models.ForeignKey(
        Credential,
        verbose_name=_("credential"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        null=True,
        blank=True,
    )
    transport = models.CharField(
        _("transport"), max_length=16, choices=Transport.choices, default=Transport.WEBHOOK
    )
    # Unique (Meta.constraints): a redelivered event inserts nothing and is not dispatched
    # twice. A constraint rather than unique=True, which on PostgreSQL also builds a
    # varchar_pattern_ops index for LIKE queries that no code runs: one more index to write
    # per delivery.
    dedupe_key = models.CharField(_("dedupe key"), max_length=255)
    resource = models.CharField(_("resource"), max_length=64)
    event = models.CharField(_("event"), max_length=64)
    data_id = models.CharField(_("data id"), max_length=_ID_LENGTH, blank=True)
    actor_id = models.CharField(_("actor id"), max_length=_ID_LENGTH, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    error = models.TextField(_("error"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Webex webhook delivery")
        verbose_name_plural = _("Webex webhook deliveries")
        ordering = ("-received_at",)
        indexes = [
            models.Index(fields=["status", "received_at"], name="webexteams_delivery_status"),
            models.Index(fields=["webhook", "received_at"], name="webexteams_delivery_webhook"),
            # The listener's catch-up asks for its newest websocket delivery; partial, so
            # webhook deliveries (the hot path) write no entry.
            models.Index(
                fields=["credential", "received_at"],
                name="webexteams_delivery_socket",
                condition=Q(transport="websocket"),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["received", "processed", "failed", "ignored"]),
                name="webexteams_delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(transport="websocket", webhook__isnull=True)
                | Q(transport="webhook", webhook__isnull=False, credential__isnull=True),
                name="webexteams_delivery_transport_valid",
            ),
            models.UniqueConstraint(fields=["dedupe_key"], name="webexteams_delivery_dedupe_key"),
        ]

    def __str__(self) -> str:
        return f"{self.resource}:{self.event} {self.data_id} ({self.status})"


class PrunedDelivery(models.Model):
    """The dedupe key of a delivery that ``prune_deliveries`` deleted: the compact record
    that keeps a captured, validly signed body from being accepted and dispatched again after
    its row is gone (Webex signs no timestamp, so the signature never expires). The receiver
    checks it inside its one INSERT statement (docs/security.md)."""

    # The key is the primary key: one index, nothing else stored per delivery.
    dedupe_key = models.CharField(_("dedupe key"), max_length=255, primary_key=True)

    class Meta:
        verbose_name = _("Webex pruned delivery key")
        verbose_name_plural = _("Webex pruned delivery keys")

    def __str__(self) -> str:
        return self.dedupe_key


def outbox_upload_to(instance: OutboundMessage, filename: str) -> str:
    """Storage path for a queued file: ``WEBEXTEAMS["FILE_STORAGE_PREFIX"]`` + a random dir.

    Read per call (a callable ``upload_to``) so no setting is read at import time; the random
    directory keeps two uploads with the same name apart.
    """
    from django_webexteams import conf

    prefix = str(conf.get("FILE_STORAGE_PREFIX") or "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"{prefix}{uuid.uuid4().hex}/{filename}"


class OutboundMessage(models.Model):
    """An outbox row: a message to send through Webex (see ``messaging.send_message``).

    Exactly one target is set: ``room_id``, ``to_person_id`` or ``to_person_email``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    # null: the bot token from settings. PROTECT: a queued message must not silently switch
    # to another identity (or lose its history) when its credential is deleted.
    credential = models.ForeignKey(
        Credential,
        verbose_name=_("credential"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outbound_messages",
    )
    room_id = models.CharField(_("room id"), max_length=_ID_LENGTH, blank=True)
    to_person_id = models.CharField(_("to person id"), max_length=_ID_LENGTH, blank=True)
    to_person_email = models.EmailField(_("to person e-mail"), blank=True)
    text = models.TextField(_("text"), blank=True)
    markdown = models.TextField(_("markdown"), blank=True)
    parent_id = models.CharField(_("parent message id"), max_length=_ID_LENGTH, blank=True)
    attachments = models.JSONField(_("attachments"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to=outbox_upload_to, max_length=500, blank=True)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=255, unique=True, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    webex_message_id = models.CharField(_("Webex message id"), max_length=_ID_LENGTH, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    tracking_id = models.CharField(_("tracking id"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Webex outbound message")
        verbose_name_plural = _("Webex outbound messages")
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["status", "created_at"], name="webexteams_outbound_status"),
        ]
        constraints = [
            # Webex takes exactly one of roomId, toPersonId, toPersonEmail
            # (https://developer.webex.com/docs/api/v1/messages/create-a-message).
            models.CheckConstraint(
                condition=(
                    (~Q(room_id="") & Q(to_person_id="") & Q(to_person_email=""))
                    | (Q(room_id="") & ~Q(to_person_id="") & Q(to_person_email=""))
                    | (Q(room_id="") & Q(to_person_id="") & ~Q(to_person_email=""))
                ),
                name="webexteams_outbound_one_target",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "sending", "sent", "failed"]),
                name="webexteams_outbound_status_valid",
            ),
        ]

    def __str__(self) -> str:
        target = self.room_id or self.to_person_id or self.to_person_email
        return f"{target} ({self.status})"


# --- live admin pages (no tables) -------------------------------------------------------------
# Two unmanaged models without a table. They exist so that the admin lists the live pages
# "Webex spaces" and "Webex licenses" under the app like any other model, and so that each page
# has a view permission of its own (``webexteams.view_space``, ``webexteams.view_license``) that
# staff can be granted. No row is ever read or written: the pages fetch from Webex
# (django_webexteams.admin.live_pages). Their migration creates permissions, not tables.


class Space(models.Model):
    """Placeholder for the admin page listing Webex spaces live (no table, no rows)."""

    class Meta:
        managed = False
        db_table = "webexteams_no_table_space"
        default_permissions = ("view",)
        verbose_name = _("Webex space (live)")
        verbose_name_plural = _("Webex spaces (live)")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class License(models.Model):
    """Placeholder for the admin page listing Webex licenses live (no table, no rows)."""

    class Meta:
        managed = False
        db_table = "webexteams_no_table_license"
        default_permissions = ("view",)
        verbose_name = _("Webex license (live)")
        verbose_name_plural = _("Webex licenses (live)")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
