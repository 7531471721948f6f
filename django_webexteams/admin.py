"""Django admin for the four models.

Security decisions:

- Tokens and secrets are never rendered: list and detail pages show a redacted form
  (``••••abcd``, the last 4 characters, only for values long enough that 4 characters reveal
  nothing useful), and forms take new values in write-only password inputs that are never
  pre-filled. A blank input keeps the stored value.
- Encrypted columns are deferred in every admin queryset (also across relations), and the
  redaction reads the raw column. So a row encrypted with a key that is no longer configured
  shows as "unreadable (wrong key)" instead of crashing the page with ``DecryptionError``.

Structure: one ``ModelAdmin`` per model on top of :class:`EncryptedFieldsAdmin`; the admin
issue extends them (actions, live pages) without changing that shape.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import ExpressionWrapper, F, QuerySet, TextField
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_webexteams import crypto
from django_webexteams.fields import EncryptedTextField
from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery

__all__ = [
    "CredentialAdmin",
    "EncryptedFieldsAdmin",
    "OutboundMessageAdmin",
    "WebhookAdmin",
    "WebhookDeliveryAdmin",
    "redact",
]

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
        "__str__",
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


# --- Webhook -------------------------------------------------------------------------------


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
        "status",
        "credential",
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


# --- WebhookDelivery -----------------------------------------------------------------------


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(EncryptedFieldsAdmin):
    """Read-only: a delivery is an audit record of what Webex sent."""

    list_display = (
        "received_at",
        "resource",
        "event",
        "status",
        "webhook",
        "data_id",
        "attempts",
        "processed_at",
    )
    list_filter = ("status", "resource", "event")
    list_select_related = ("webhook",)
    search_fields = ("dedupe_key", "data_id", "actor_id")
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- OutboundMessage -----------------------------------------------------------------------


@admin.register(OutboundMessage)
class OutboundMessageAdmin(EncryptedFieldsAdmin):
    list_display = (
        "created_at",
        "target",
        "status",
        "credential",
        "attempts",
        "sent_at",
        "webex_message_id",
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
    date_hierarchy = "created_at"
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
        return obj.room_id or obj.to_person_id or obj.to_person_email

    actions = ("send_again",)

    @admin.action(description=_("Send again (failed messages only)"))
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
