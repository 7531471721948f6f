"""Django admin for the four models.

Security decisions:

- Tokens and secrets are never rendered: list and detail pages show a redacted form
  (``••••abcd``, the last 4 characters, only for values long enough that 4 characters reveal
  nothing useful), and forms take new values in write-only password inputs that are never
  pre-filled. A blank input keeps the stored value.
- Encrypted columns are deferred in every admin queryset (also across relations), and the
  redaction reads the raw column. So a row encrypted with a key that is no longer configured
  shows as "unreadable (wrong key)" instead of crashing the page with ``DecryptionError``.

- Actions that talk to Webex call the service modules (``tokens``, ``webhooks``,
  ``messaging``) and turn every Webex failure into an admin message, never a 500; error texts
  come from the client's errors, which never hold a token.
- The live pages (spaces, licenses) act only as the default bot, a bot credential or the
  staff member's own Webex account (views/admin_pages.py explains why).

Structure: one ``ModelAdmin`` per model on top of :class:`EncryptedFieldsAdmin`, plus the
live pages ``SpaceAdmin`` / ``LicenseAdmin`` on table-less models (their own view permissions
``webexteams.view_space`` / ``webexteams.view_license``; URL names ``admin:webexteams_spaces``
and ``admin:webexteams_licenses``). docs/admin.md is the staff guide.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.paginator import EmptyPage, Paginator
from django.db import connections, models
from django.db.models import ExpressionWrapper, F, QuerySet, TextField
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_webexteams import conf, crypto
from django_webexteams.fields import EncryptedTextField
from django_webexteams.models import (
    Credential,
    License,
    OutboundMessage,
    Space,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "CredentialAdmin",
    "EncryptedFieldsAdmin",
    "EstimatedCountPaginator",
    "LicenseAdmin",
    "OutboundMessageAdmin",
    "SpaceAdmin",
    "WebhookAdmin",
    "WebhookDeliveryAdmin",
    "admin_tasks_mode",
    "redact",
]

logger = logging.getLogger(__name__)


def short_webex_id(value: str | None) -> str:
    """A Webex id short enough for a changelist column, with the full id in the tooltip.

    Webex ids are base64 of ``ciscospark://<region>/<KIND>/<uuid>`` (76-80 characters, and
    all ids of one kind share their first ~30), so the readable part is the kind and the
    start of the uuid: ``ROOM 3d5a0f12…``. Anything else keeps its last 12 characters.
    """
    if not value:
        return "—"
    if len(value) <= 24:
        return value
    short = "…" + value[-12:]
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        decoded = ""
    if decoded.startswith("ciscospark://"):
        parts = decoded.split("/")
        if len(parts) >= 5 and parts[-1]:
            short = f"{parts[-2]} {parts[-1][:8]}…"
    return format_html('<span class="webexteams-id" title="{}">{}</span>', value, short)


#: Shown instead of a value that no configured key can decrypt.
UNREADABLE = _("unreadable (wrong key)")
_MIN_LENGTH_FOR_HINT = 12


def redact(value: str | None) -> str:
    """``"••••abcd"`` for a long value, bullets only for a short one, "(empty)" for none."""
    if not value:
        return str(_("(empty)"))
    if len(value) < _MIN_LENGTH_FOR_HINT:
        return "••••"
    return "••••" + value[-4:]


def _raw_attr(name: str) -> str:
    return f"_webexteams_raw_{name}"


def encrypted_field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def defer_encrypted(qs: QuerySet[Any], *relations: str) -> QuerySet[Any]:
    """``qs`` with the encrypted columns of its model (and of ``relations``) deferred, so that
    loading rows never decrypts (and never raises ``DecryptionError``)."""
    names = list(encrypted_field_names(qs.model))
    for relation in relations:
        related: Any = qs.model._meta.get_field(relation).related_model
        names += [f"{relation}__{n}" for n in encrypted_field_names(related)]
    return qs.defer(*names) if names else qs


class WriteOnlySecretsForm(forms.ModelForm):  # type: ignore[type-arg]
    """A ModelForm whose encrypted fields are replaced by write-only password inputs.

    ``secret_inputs`` maps form field -> model field. Inputs are never pre-filled
    (``render_value=False``); a blank input keeps the stored value. ``required_on_add`` lists
    form fields that must be given when the object is created.
    """

    secret_inputs: dict[str, str] = {}
    required_on_add: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is None:
            for name in self.required_on_add:
                if not cleaned.get(name):
                    self.add_error(name, _("This field is required."))
        return cleaned

    def save(self, commit: bool = True) -> Any:
        obj = super().save(commit=False)
        for form_name, model_name in self.secret_inputs.items():
            value = (self.cleaned_data.get(form_name) or "").strip()
            if value:
                setattr(obj, model_name, value)
        if commit:
            obj.save()
            self._save_m2m()  # type: ignore[attr-defined]
        return obj


def _secret_input(label: Any, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=help_text,
    )


class EncryptedFieldsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Base admin: defers encrypted columns, annotates their raw value for redaction, and
    defers encrypted columns of the related objects in ``list_select_related`` and of the
    choices of foreign-key widgets."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        relations = self.list_select_related
        related = tuple(relations) if isinstance(relations, list | tuple) else ()
        qs = defer_encrypted(qs, *related)
        raw = {
            _raw_attr(name): ExpressionWrapper(F(name), output_field=TextField())
            for name in encrypted_field_names(self.model)
        }
        return qs.annotate(**raw) if raw else qs

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Security: the changelist applies query-string lookups to annotations too, and the
        # raw (ciphertext) columns annotated above for redaction must not become a filter:
        # "?_webexteams_raw_access_token__startswith=gAAAA" would let anyone who may view
        # the list read every stored ciphertext out of the result counts. Refused (400).
        if any(part.startswith(_raw_attr("")) for part in lookup.split(LOOKUP_SEP)):
            return False
        return bool(super().lookup_allowed(lookup, value, request))

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        related: Any = db_field.related_model
        if encrypted_field_names(related) and "queryset" not in kwargs:
            kwargs["queryset"] = defer_encrypted(related._default_manager.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def redacted(self, obj: models.Model, name: str) -> str:
        """The redacted form of encrypted field ``name`` of ``obj`` (never the value)."""
        if obj.pk is None:
            return "—"
        attr = _raw_attr(name)
        if hasattr(obj, attr):
            raw = getattr(obj, attr)
        else:  # an object that did not come from get_queryset()
            raw = (
                type(obj)
                ._base_manager.filter(pk=obj.pk)
                .annotate(**{attr: ExpressionWrapper(F(name), output_field=TextField())})
                .values_list(attr, flat=True)
                .first()
            )
        if raw is None:
            return "—"
        try:
            return redact(crypto.decrypt(raw))
        except crypto.DecryptionError:
            return str(UNREADABLE)


# --- helpers of the actions ----------------------------------------------------------------

#: Actions that call Webex once per row in the request refuse larger selections: each call
#: may take seconds (timeouts, retries), and a request must not run for minutes.
MAX_SYNC_ROWS = 25


def admin_tasks_mode() -> str:
    """``WEBEXTEAMS["ADMIN_TASKS"]`` (``"sync"`` or ``"celery"``); ``None`` follows
    ``WEBHOOK_DISPATCH``, so a project that already runs Celery for webhooks uses it here."""
    mode = conf.get("ADMIN_TASKS") or conf.get("WEBHOOK_DISPATCH") or "sync"
    if mode not in ("sync", "celery"):
        raise ImproperlyConfigured(
            f'WEBEXTEAMS["ADMIN_TASKS"] must be "sync", "celery" or None, not {mode!r}.'
        )
    return str(mode)


def _webex_failures() -> tuple[type[BaseException], ...]:
    """Exceptions an action reports as a message (anything else is a bug and should raise)."""
    from django_webexteams.client import WebexError
    from django_webexteams.tokens import TokenError

    return (WebexError, ImproperlyConfigured, crypto.DecryptionError, TokenError, ValueError)


def _describe(exc: BaseException) -> str:
    from django_webexteams.views.admin_pages import describe_error

    return describe_error(exc)


def _too_many(model_admin: admin.ModelAdmin, request: HttpRequest, count: int) -> bool:  # type: ignore[type-arg]
    if count <= MAX_SYNC_ROWS:
        return False
    model_admin.message_user(
        request,
        _("Select at most %(max)d rows for this action (each one is a call to Webex).")
        % {"max": MAX_SYNC_ROWS},
        level=messages.WARNING,
    )
    return True


def _each(
    model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    rows: Iterable[Any],
    work: Callable[[Any], str],
) -> None:
    """Run ``work(row)`` for each row; its return value is a success message, a Webex failure
    becomes an error message naming the row. One failing row does not stop the others."""
    for row in rows:
        try:
            text = work(row)
        except _webex_failures() as exc:
            model_admin.message_user(request, f"{row}: {_describe(exc)}", level=messages.ERROR)
            continue
        if text:
            model_admin.message_user(request, text, level=messages.SUCCESS)


def _queue(
    model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    task: Any,
    pks: list[int],
) -> None:
    """``task.delay(pk)`` for each pk (primary keys only, never tokens, go to the broker)."""
    queued = 0
    for pk in pks:
        try:
            task.delay(pk)
        except Exception:  # broker down: say so instead of a 500
            logger.exception("Could not queue %s(%s)", task.name, pk)
            model_admin.message_user(
                request,
                _("Could not queue the task (is the Celery broker running?)."),
                level=messages.ERROR,
            )
            break
        queued += 1
    if queued:
        model_admin.message_user(
            request, _("%(n)d task(s) queued.") % {"n": queued}, level=messages.SUCCESS
        )


#: The largest row offset a page may start at (PostgreSQL's OFFSET is a bigint).
_MAX_OFFSET = 2**62


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator that does not ``COUNT(*)`` a huge unfiltered table on PostgreSQL.

    For an unfiltered queryset it takes the planner's estimate (``pg_class.reltuples``) when
    that says the table holds more than ``threshold`` rows; filtered querysets, small tables
    and other databases get an exact count. A page number past the estimate shows an empty
    page rather than a 404.
    """

    threshold = 50_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where:
            connection = connections[qs.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                        [qs.model._meta.db_table],
                    )
                    row = cursor.fetchone()
                estimate = int(row[0]) if row and row[0] is not None else -1
                if estimate > self.threshold:
                    return estimate
        return super().count

    def validate_number(self, number: Any) -> int:
        try:
            return super().validate_number(number)
        except EmptyPage:
            # With an estimated count the last pages may not exist: show them empty. Only
            # pages past the end: a page below 1 (a negative slice) or one whose offset
            # overflows the database's bigint stays an invalid page (the admin then shows
            # its "?e=1" page), never a 500 (issue 16: fuzzing ?p=).
            page = int(number)
            if self.count > self.threshold and 1 <= page <= _MAX_OFFSET // self.per_page:
                return page
            raise


# --- Credential ----------------------------------------------------------------------------


class CredentialForm(WriteOnlySecretsForm):
    new_access_token = _secret_input(
        _("access token"),
        _(
            "Write-only. Leave blank to keep the stored token. Prefer manage.py "
            "webexteams_add_credential, which checks the token with Webex first."
        ),
    )
    new_refresh_token = _secret_input(_("refresh token"), _("Write-only. Blank keeps it."))
    secret_inputs = {"new_access_token": "access_token", "new_refresh_token": "refresh_token"}
    required_on_add = ("new_access_token",)

    class Meta:
        model = Credential
        # Listed, not excluded: a new model field must not appear in the form by accident.
        fields = (
            "kind",
            "name",
            "owner",
            "is_active",
            "webex_person_id",
            "email",
            "display_name",
            "org_id",
            "scopes",
            "expires_at",
            "refresh_expires_at",
            "last_error",
        )


@admin.register(Credential)
class CredentialAdmin(EncryptedFieldsAdmin):
    form = CredentialForm
    list_display = (
        "label",
        "kind",
        "display_name",
        "email",
        "owner",
        "is_active",
        "access_token_redacted",
        "expires_at",
        "updated_at",
    )
    list_filter = ("kind", "is_active")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = (
        "access_token_redacted",
        "refresh_token_redacted",
        "last_refreshed_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("kind", "name", "owner", "is_active")}),
        (
            _("Webex identity"),
            {"fields": ("webex_person_id", "email", "display_name", "org_id", "scopes")},
        ),
        (
            _("Tokens (encrypted, never shown)"),
            {
                "fields": (
                    "access_token_redacted",
                    "new_access_token",
                    "expires_at",
                    "refresh_token_redacted",
                    "new_refresh_token",
                    "refresh_expires_at",
                )
            },
        ),
        (_("Status"), {"fields": ("last_refreshed_at", "last_error", "created_at", "updated_at")}),
    )

    #: Who a Webex identity belongs to: "Log in with Webex" finds the Django user through
    #: (webex_person_id, owner) of user credentials, and stores fresh tokens there.
    IDENTITY_FIELDS = ("owner", "webex_person_id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        user: Any = request.user
        if not user.is_superuser:
            # Security: only superusers may link a Webex identity to an account. A staff
            # member who may change credentials could otherwise point the credential of
            # their own Webex identity at a superuser and log in with Webex as that
            # superuser, or point a victim's person id at their own account and receive
            # the victim's tokens at the victim's next login. Kind too, once saved: a bot
            # row turned into a user row would become such a link.
            fields += [f for f in self.IDENTITY_FIELDS if f not in fields]
            if obj is not None and "kind" not in fields:
                fields.append("kind")
        return fields

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # The owner's username field is read here, per request, not at import time.
        username = get_user_model().USERNAME_FIELD
        return [
            "name",
            "display_name",
            "email",
            "webex_person_id",
            "org_id",
            f"owner__{username}",
        ]

    @admin.display(description=_("access token"))
    def access_token_redacted(self, obj: Credential) -> str:
        return self.redacted(obj, "access_token")

    @admin.display(description=_("refresh token"))
    def refresh_token_redacted(self, obj: Credential) -> str:
        return self.redacted(obj, "refresh_token")

    @admin.display(description=_("credential"), ordering="name")
    def label(self, obj: Credential) -> str:
        """``str(obj)``, with a bare person id (76-80 characters) shortened so the row fits
        a 1280 px screen (issue 15)."""
        if obj.name or obj.display_name or obj.email or not obj.webex_person_id:
            return str(obj)
        return format_html("{}: {}", obj.get_kind_display(), short_webex_id(obj.webex_person_id))

    actions = ("refresh_now", "check_token")

    @admin.action(description=_("Refresh now (OAuth user credentials)"), permissions=("change",))
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        """Spend the refresh token now (``tokens.refresh_credential(force=True)``, under the
        row lock): one request per credential, so a Celery task each with
        ``ADMIN_TASKS = "celery"``. Bots have nothing to refresh."""
        pks = queryset.filter(kind=Credential.Kind.USER).values_list("pk", flat=True)
        rows = list(defer_encrypted(Credential.objects.filter(pk__in=list(pks))))
        skipped = queryset.exclude(kind=Credential.Kind.USER).count()
        if skipped:
            self.message_user(
                request,
                _("%(n)d bot credential(s) skipped: bot tokens cannot be refreshed.")
                % {"n": skipped},
                level=messages.WARNING,
            )
        if admin_tasks_mode() == "celery":
            from django_webexteams.tasks import refresh_credential

            _queue(self, request, refresh_credential, [c.pk for c in rows])
            return
        if _too_many(self, request, len(rows)):
            return

        def refresh(row: Credential) -> str:
            from django_webexteams import tokens

            credential = Credential.objects.get(pk=row.pk)
            outcome = tokens.refresh_credential(credential, force=True)
            if outcome == "refreshed":
                return gettext("%(c)s: refreshed.") % {"c": credential}
            if outcome is None:
                raise ValueError(
                    gettext("nothing to refresh (inactive, or no refresh token stored).")
                )
            raise ValueError(
                gettext("refresh %(outcome)s: %(error)s")
                % {"outcome": outcome or "not done", "error": credential.last_error or "-"}
            )

        _each(self, request, rows, refresh)

    # Security: the change permission, not view: the check uses the token, and near expiry
    # client() spends the refresh token and saves new tokens. And only superusers may use
    # another user's OAuth token (as on the live pages: bots or the staff member's own
    # account), so a staff member cannot act as, or burn the refresh token of, someone else.
    @admin.action(
        description=_("Check token (asks Webex who it belongs to)"), permissions=("change",)
    )
    def check_token(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        """``people.me()`` with each token: shows who Webex says it is, or why it fails.
        Staff who are not superusers check bots and their own user credentials only."""
        user: Any = request.user
        if not user.is_superuser:
            others = queryset.filter(kind=Credential.Kind.USER).exclude(owner_id=user.pk)
            skipped = others.count()
            if skipped:
                self.message_user(
                    request,
                    _(
                        "%(n)d credential(s) of other users skipped: only superusers may "
                        "use another user's token."
                    )
                    % {"n": skipped},
                    level=messages.WARNING,
                )
                queryset = queryset.exclude(pk__in=others.values_list("pk", flat=True))
        if _too_many(self, request, queryset.count()):
            return

        def check(row: Credential) -> str:
            credential = Credential.objects.get(pk=row.pk)
            me = credential.client().people.me()
            return gettext("%(c)s: valid, Webex says this is %(name)s <%(email)s> (%(type)s).") % {
                "c": credential,
                "name": me.display_name or "?",
                "email": (me.emails or ["?"])[0],
                "type": me.raw.get("type", "person"),
            }

        _each(self, request, queryset, check)


# --- Webhook -------------------------------------------------------------------------------


#: Colours of the webhook status column.
STATUS_COLOURS: dict[str, str] = {
    Webhook.Status.ACTIVE: "#2e7d32",
    Webhook.Status.INACTIVE: "#ba2121",
    Webhook.Status.MISSING: "#777",
}

#: Webex messaging webhook resources and events
#: (https://developer.webex.com/docs/api/guides/webhooks#filtering-webhooks).
WEBHOOK_RESOURCES = (
    ("messages", "messages"),
    ("memberships", "memberships"),
    ("rooms", "rooms"),
    ("attachmentActions", "attachmentActions"),
    ("all", _("all (firehose)")),
)
WEBHOOK_EVENTS = (
    ("created", "created"),
    ("updated", "updated"),
    ("deleted", "deleted"),
    ("all", _("all")),
)


class RegisterWebhookForm(forms.Form):
    """The register page: what ``webhooks.register_webhook`` takes. The target URL is built
    from ``WEBHOOK_BASE_URL`` and the secret is generated, so neither is asked for."""

    name = forms.CharField(label=_("name"), max_length=255)
    resource = forms.ChoiceField(label=_("resource"), choices=WEBHOOK_RESOURCES)
    event = forms.ChoiceField(label=_("event"), choices=WEBHOOK_EVENTS)
    filter = forms.CharField(
        label=_("filter"),
        max_length=1024,
        required=False,
        help_text=_('Optional Webex filter, e.g. "roomId=..." or "mentionedPeople=me".'),
    )
    credential = forms.ModelChoiceField(
        label=_("credential"),
        queryset=Credential.objects.none(),
        required=False,
        empty_label=_('Default bot (WEBEXTEAMS["BOT_TOKEN"])'),
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bots, and the staff member's own linked account only: a webhook registered with
        # another person's token would deliver that person's private messages to us.
        # Deferred: listing the choices must not decrypt (or fail on) any token.
        mine = Credential.objects.filter(
            is_active=True, kind=Credential.Kind.USER, owner_id=getattr(user, "pk", None)
        )
        bots = Credential.objects.filter(is_active=True, kind=Credential.Kind.BOT)
        field: Any = self.fields["credential"]
        field.queryset = defer_encrypted(bots | mine)


class WebhookForm(WriteOnlySecretsForm):
    new_secret = _secret_input(_("secret"), _("Write-only. Leave blank to keep the stored secret."))
    secret_inputs = {"new_secret": "secret"}
    # Webex only delivers to https in production; assume it when the scheme is left out.
    target_url = forms.URLField(
        label=_("target URL"), required=False, max_length=1024, assume_scheme="https"
    )

    class Meta:
        model = Webhook
        fields = ("name", "credential", "resource", "event", "filter", "target_url", "status")


@admin.register(Webhook)
class WebhookAdmin(EncryptedFieldsAdmin):
    form = WebhookForm
    list_display = (
        "name",
        "resource",
        "event",
        "status_colored",
        "credential_or_bot",
        "webex_id",
        "secret_redacted",
        "last_checked_at",
    )
    list_filter = ("status", "resource", "event")
    list_select_related = ("credential",)
    search_fields = ("name", "webex_id", "target_url", "filter")
    readonly_fields = (
        "uuid",
        "webex_id",
        "secret_redacted",
        "last_checked_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "credential", "resource", "event", "filter", "target_url")}),
        (_("Secret (encrypted, never shown)"), {"fields": ("secret_redacted", "new_secret")}),
        (
            _("Status"),
            {
                "fields": (
                    "status",
                    "uuid",
                    "webex_id",
                    "last_checked_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    @admin.display(description=_("secret"))
    def secret_redacted(self, obj: Webhook) -> str:
        return self.redacted(obj, "secret")

    @admin.display(description=_("status"), ordering="status")
    def status_colored(self, obj: Webhook) -> str:
        """Green active, red inactive (Webex disabled it), grey missing at Webex."""
        colour = STATUS_COLOURS.get(obj.status, "#666")
        return format_html(
            '<span class="webexteams-status webexteams-status-{}" style="color: {}; '
            'font-weight: bold; white-space: nowrap">&#9679; {}</span>',
            obj.status,
            colour,
            obj.get_status_display(),
        )

    @admin.display(description=_("credential"), ordering="credential")
    def credential_or_bot(self, obj: Webhook) -> str:
        # No credential means WEBEXTEAMS["BOT_TOKEN"]: say so instead of "-".
        return str(obj.credential) if obj.credential is not None else gettext("Default bot")

    # --- register at Webex (the "add" page) --------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """ "Add" registers at Webex (``webhooks.register_webhook``): a row without a Webex
        registration would never receive anything, and its secret must be generated, not
        typed in."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RegisterWebhookForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            from django_webexteams import webhooks

            data = form.cleaned_data
            try:
                webhook = webhooks.register_webhook(
                    name=data["name"],
                    resource=data["resource"],
                    event=data["event"],
                    filter=data["filter"] or None,
                    credential=data["credential"],
                )
            except _webex_failures() as exc:
                self.message_user(request, _describe(exc), level=messages.ERROR)
            else:
                self.log_addition(request, webhook, [{"added": {}}])
                self.message_user(
                    request,
                    _("Registered at Webex: %(w)s.") % {"w": webhook},
                    level=messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse(f"{self.admin_site.name}:webexteams_webhook_change", args=[webhook.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": _("Register a webhook at Webex"),
            "subtitle": None,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/webexteams/webhook_register.html", context)

    # --- actions -----------------------------------------------------------------------------

    actions = ("reactivate", "rotate_secret", "check_status", "sync_with_webex", "delete_at_webex")

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes action_location (and warns about overrides without it); 5.2 does not.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg,unused-ignore]
        # Deleting rows only here would leave Webex delivering to a URL nobody answers:
        # "Delete at Webex" replaces the generic bulk delete.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Reactivate at Webex"), permissions=("change",))
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        from django_webexteams import webhooks

        rows = list(queryset.exclude(webex_id=None))
        if _too_many(self, request, len(rows)):
            return

        def work(row: Webhook) -> str:
            webhook = Webhook.objects.get(pk=row.pk)
            webhooks.reactivate_webhook(webhook)
            return gettext("%(w)s: %(status)s at Webex.") % {
                "w": webhook,
                "status": webhook.get_status_display(),
            }

        _each(self, request, rows, work)

    @admin.action(description=_("Rotate secret"), permissions=("change",))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        from django_webexteams import webhooks

        rows = list(queryset.exclude(webex_id=None))
        if _too_many(self, request, len(rows)):
            return

        def work(row: Webhook) -> str:
            webhooks.rotate_secret(Webhook.objects.get(pk=row.pk))
            return gettext("%(w)s: new secret stored and sent to Webex.") % {"w": row}

        _each(self, request, rows, work)

    # Security: "change", not just view. Checking writes each row's status, sends
    # webhook_disabled to the project's receivers and, with WEBHOOK_AUTO_REACTIVATE,
    # reactivates webhooks at Webex; a view-only staff member must not trigger that.
    @admin.action(description=_("Check status at Webex"), permissions=("change",))
    def check_status(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        from django_webexteams import webhooks

        pks = list(queryset.exclude(webex_id=None).values_list("pk", flat=True))
        if admin_tasks_mode() == "celery":
            from django_webexteams.tasks import check_webhook

            _queue(self, request, check_webhook, pks)
            return
        if _too_many(self, request, len(pks)):
            return
        result = webhooks.check_webhooks(list(Webhook.objects.filter(pk__in=pks)))
        for label, rows, level in (
            (_("active"), result.active, messages.SUCCESS),
            (_("disabled by Webex (reactivate them)"), result.disabled, messages.WARNING),
            (_("reactivated"), result.reactivated, messages.SUCCESS),
            (_("missing at Webex"), result.missing, messages.WARNING),
            (_("could not be read (see the log)"), result.errors, messages.ERROR),
        ):
            if rows:
                names = ", ".join(str(w) for w in rows)
                self.message_user(request, f"{label}: {names}", level=level)

    @admin.action(description=_("Sync with Webex (all webhooks of their tokens)"),
                  permissions=("change",))  # fmt: skip
    def sync_with_webex(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        """``webhooks.sync_webhooks`` for each token among the selected rows: Webex is the
        source of truth for name, target, filter and status; rows Webex no longer lists are
        marked missing, webhooks registered elsewhere are reported (their secrets are unknown,
        so they are not imported)."""
        from django_webexteams import webhooks

        credential_ids = sorted(
            set(queryset.values_list("credential_id", flat=True)), key=lambda pk: pk or 0
        )
        if _too_many(self, request, len(credential_ids)):
            return
        for pk in credential_ids:
            credential = Credential.objects.get(pk=pk) if pk is not None else None
            label = str(credential) if credential is not None else gettext("Default bot")
            try:
                result = webhooks.sync_webhooks(credential)
            except _webex_failures() as exc:
                self.message_user(request, f"{label}: {_describe(exc)}", level=messages.ERROR)
                continue
            self.message_user(
                request,
                gettext(
                    "%(who)s: %(updated)d in sync, %(missing)d missing at Webex, %(unknown)d "
                    "registered elsewhere (not imported)."
                )
                % {
                    "who": label,
                    "updated": len(result.updated),
                    "missing": len(result.missing),
                    "unknown": len(result.unknown),
                },
                level=messages.WARNING if result.missing else messages.SUCCESS,
            )

    @admin.action(
        description=_("Delete at Webex (keep the row and its deliveries, marked missing)"),
        permissions=("delete",),
    )
    def delete_at_webex(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        from django_webexteams import webhooks

        rows = list(queryset.exclude(webex_id=None))
        if _too_many(self, request, len(rows)):
            return

        def work(row: Webhook) -> str:
            webhook = Webhook.objects.get(pk=row.pk)
            existed = webhooks.delete_webhook(webhook, keep_row=True)
            if existed:
                return gettext("%(w)s: deleted at Webex.") % {"w": webhook}
            return gettext("%(w)s: Webex no longer had it.") % {"w": webhook}

        _each(self, request, rows, work)

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        """The delete page deletes at Webex first; if Webex fails the row stays (else
        Webex would go on delivering to a URL that no longer answers)."""
        from django_webexteams import webhooks

        try:
            webhooks.delete_webhook(obj)
        except _webex_failures() as exc:
            request._webexteams_delete_failed = True  # type: ignore[attr-defined]
            self.message_user(
                request,
                gettext("Not deleted: %(error)s") % {"error": _describe(exc)},
                level=messages.ERROR,
            )

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        if getattr(request, "_webexteams_delete_failed", False):
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:webexteams_webhook_change", args=[obj_id])
            )
        return super().response_delete(request, obj_display, obj_id)


# --- WebhookDelivery -----------------------------------------------------------------------


class _FixedChoicesFilter(admin.SimpleListFilter):
    """A filter with a fixed list of values (no query to find them)."""

    choices_list: tuple[tuple[str, Any], ...] = ()

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return self.choices_list

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{str(self.parameter_name): value}) if value else queryset


class DeliveryResourceFilter(_FixedChoicesFilter):
    title = _("resource")
    parameter_name = "resource"
    choices_list = WEBHOOK_RESOURCES[:-1]


class DeliveryEventFilter(_FixedChoicesFilter):
    title = _("event")
    parameter_name = "event"
    choices_list = WEBHOOK_EVENTS[:-1]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(EncryptedFieldsAdmin):
    """Read-only: a delivery is an audit record of what Webex sent."""

    list_display = (
        "received_at",
        "resource",
        "event",
        "status",
        "webhook",
        "data_id_short",
        "attempts",
        "processed_at",
    )

    # Webex ids are 76-80 characters: shortened (short_webex_id) so every column fits a
    # 1280 px screen (issue 15); the detail page and search use the full id.
    @admin.display(description=_("data id"), ordering="data_id")
    def data_id_short(self, obj: WebhookDelivery) -> str:
        return short_webex_id(obj.data_id)

    # Fixed-choice filters: the default filter for a plain CharField runs SELECT DISTINCT
    # over the whole table on every page load. No date_hierarchy for the same reason.
    list_filter = ("status", DeliveryResourceFilter, DeliveryEventFilter)
    list_select_related = ("webhook",)
    search_fields = ("dedupe_key", "data_id", "actor_id")
    # Fast with 100,000+ rows: newest first by primary key (indexed; ids grow with
    # received_at), no full COUNT(*) for "x total", an estimated count when unfiltered.
    ordering = ("-pk",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        "webhook",
        "status",
        "resource",
        "event",
        "data_id",
        "actor_id",
        "dedupe_key",
        "attempts",
        "received_at",
        "processed_at",
        "error",
        "payload_pretty",
        "traceback",
    )
    readonly_fields = fields
    actions = ("reprocess",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # The payload and traceback can be large; the list never shows them.
        qs = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and (match.url_name or "").endswith("_changelist"):
            qs = qs.defer("payload", "traceback")
        return qs

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        # The change permission is withheld from the page (rows are read-only), but granting
        # it is how staff are allowed to reprocess.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj: WebhookDelivery) -> str:
        """The payload as indented JSON (escaped; it came from outside)."""
        text = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="webexteams-payload">{}</pre>', text)

    @admin.action(
        description=_("Reprocess (dispatch the signals again)"), permissions=("reprocess",)
    )
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        """``webhooks.reprocess_delivery`` for each row: in this request, or as a Celery task
        each with ``ADMIN_TASKS = "celery"``. Receivers see the event again."""
        from django_webexteams import webhooks

        sync = admin_tasks_mode() != "celery"
        rows = list(WebhookDelivery.objects.filter(pk__in=queryset.values("pk")).only("pk"))
        if sync and _too_many(self, request, len(rows)):
            return
        for row in rows:
            webhooks.reprocess_delivery(row, sync=sync)
        self.message_user(
            request,
            (
                _("%(n)d delivery(ies) reprocessed; see their status.")
                if sync
                else _("%(n)d delivery(ies) queued for reprocessing.")
            )
            % {"n": len(rows)},
            level=messages.SUCCESS,
        )


# --- OutboundMessage -----------------------------------------------------------------------


@admin.register(OutboundMessage)
class OutboundMessageAdmin(EncryptedFieldsAdmin):
    # Webex ids are 76-80 characters: shown shortened (short_webex_id), so that a 1280 px
    # screen shows every column (issue 15); search still takes the full ids.
    list_display = (
        "created_at",
        "target",
        "status",
        "credential",
        "attempts",
        "sent_at",
        "message_id_short",
    )
    list_filter = ("status",)
    list_select_related = ("credential",)
    search_fields = (
        "room_id",
        "to_person_id",
        "to_person_email",
        "idempotency_key",
        "webex_message_id",
        "tracking_id",
    )
    # Like the deliveries: the outbox can grow large, so no date_hierarchy (a DISTINCT over
    # the table per page load), no full COUNT(*), newest first by the primary key.
    ordering = ("-pk",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "status",
        "attempts",
        "webex_message_id",
        "tracking_id",
        "last_error",
        "created_at",
        "updated_at",
        "sent_at",
    )

    @admin.display(description=_("target"))
    def target(self, obj: OutboundMessage) -> str:
        if obj.room_id or obj.to_person_id:
            return short_webex_id(obj.room_id or obj.to_person_id)
        return obj.to_person_email

    @admin.display(description=_("Webex message id"), ordering="webex_message_id")
    def message_id_short(self, obj: OutboundMessage) -> str:
        return short_webex_id(obj.webex_message_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Rows are created by messaging.send_message (which validates them and queues the
        # send); a row typed into a form here would never be sent. The space page of the
        # live admin has a form that goes through send_message.
        return False

    actions = ("send_again",)

    # Security: "change", not just view: this makes the bot (or a user's credential) post
    # to Webex again. Without permissions=, Django offers an action to every staff member
    # who can open the changelist, view-only ones included.
    @admin.action(description=_("Send again (failed messages only)"), permissions=("change",))
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        """Queue failed rows again through ``messaging.resend``. Other statuses are skipped:
        a sent message would be posted twice, a queued/sending one is in progress."""
        from django.contrib import messages

        from django_webexteams import messaging

        done = skipped = 0
        for row in queryset:
            if row.status != OutboundMessage.Status.FAILED:
                skipped += 1
                continue
            try:
                messaging.resend(row)
            except messaging.InvalidMessageError:  # its status changed meanwhile
                skipped += 1
                continue
            done += 1
        self.message_user(request, _("%(done)d message(s) queued again.") % {"done": done})
        if skipped:
            self.message_user(
                request,
                _("%(skipped)d message(s) skipped: only failed messages can be sent again.")
                % {"skipped": skipped},
                level=messages.WARNING,
            )


# --- live pages: spaces and licenses ---------------------------------------------------------


class LivePageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Admin of a table-less model whose "changelist" is a live page fetched from Webex.

    Only the view permission exists (``default_permissions = ("view",)``); add, change and
    delete are off. ``get_urls`` replaces the model URLs with the page and its detail view,
    keeping the ``<app>_<model>_changelist`` name that the admin index links to.
    """

    #: URL names of the page and of its detail view (``admin:<name>``).
    page_name = ""
    detail_name = ""
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def page_view(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        raise NotImplementedError

    def get_urls(self) -> list[URLPattern]:
        # admin_view(): anonymous users go to the login page, non-staff are refused; the views
        # check the model's view permission themselves (403 without it).
        wrap = self.admin_site.admin_view
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [
            path("", wrap(self.page_view), name=self.page_name),
            path("", wrap(self.page_view), name=changelist),
            path("<str:object_id>/", wrap(self.detail_view), name=self.detail_name),
        ]


@admin.register(Space)
class SpaceAdmin(LivePageAdmin):
    """The spaces (rooms) visible to a chosen credential, live from Webex."""

    page_name = "webexteams_spaces"
    detail_name = "webexteams_space_detail"

    def page_view(self, request: HttpRequest) -> HttpResponse:
        from django_webexteams.views.admin_pages import spaces_view

        return spaces_view(self, request)

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        from django_webexteams.views.admin_pages import space_detail_view

        return space_detail_view(self, request, object_id)


@admin.register(License)
class LicenseAdmin(LivePageAdmin):
    """The organisation's licenses and their usage, live from Webex (admin tokens only)."""

    page_name = "webexteams_licenses"
    detail_name = "webexteams_license_detail"

    def page_view(self, request: HttpRequest) -> HttpResponse:
        from django_webexteams.views.admin_pages import licenses_view

        return licenses_view(self, request)

    def detail_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        from django_webexteams.views.admin_pages import license_detail_view

        return license_detail_view(self, request, object_id)
