"""The admin of :class:`~django_webexteams.models.Credential`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_webexteams.admin.actions import _each, _queue, _too_many, admin_tasks_mode
from django_webexteams.admin.columns import short_webex_id
from django_webexteams.admin.encrypted import (
    EncryptedFieldsAdmin,
    WriteOnlySecretsForm,
    _secret_input,
    defer_encrypted,
)
from django_webexteams.models import (
    Credential,
)

__all__ = [
    "CredentialAdmin",
]


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
