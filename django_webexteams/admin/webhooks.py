"""The admin of :class:`~django_webexteams.models.Webhook`: register, delete, reactivate,
rotate the secret, check status at Webex.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from django_webexteams.admin.actions import (
    _describe,
    _each,
    _queue,
    _too_many,
    _webex_failures,
    admin_tasks_mode,
)
from django_webexteams.admin.encrypted import (
    EncryptedFieldsAdmin,
    WriteOnlySecretsForm,
    _secret_input,
    defer_encrypted,
)
from django_webexteams.models import (
    Credential,
    Webhook,
)

__all__ = [
    "WebhookAdmin",
]


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
