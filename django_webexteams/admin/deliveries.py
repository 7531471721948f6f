"""The admin of :class:`~django_webexteams.models.WebhookDelivery`: read-only, reprocess."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_webexteams.admin.actions import _too_many, admin_tasks_mode
from django_webexteams.admin.columns import short_webex_id
from django_webexteams.admin.encrypted import EncryptedFieldsAdmin
from django_webexteams.admin.paginator import EstimatedCountPaginator
from django_webexteams.admin.webhooks import WEBHOOK_EVENTS, WEBHOOK_RESOURCES
from django_webexteams.models import (
    WebhookDelivery,
)

__all__ = [
    "WebhookDeliveryAdmin",
]


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
        "source",
        "data_id_short",
        "attempts",
        "processed_at",
    )

    @admin.display(description=_("received through"), ordering="webhook")
    def source(self, obj: WebhookDelivery) -> str:
        """The webhook, or the websocket and the identity the listener ran as."""
        if obj.webhook_id is not None:
            return str(obj.webhook)
        who = str(obj.credential) if obj.credential_id is not None else "BOT_TOKEN"
        return f"{_('websocket')} ({who})"

    # Webex ids are 76-80 characters: shortened (short_webex_id) so every column fits a
    # 1280 px screen (issue 15); the detail page and search use the full id.
    @admin.display(description=_("data id"), ordering="data_id")
    def data_id_short(self, obj: WebhookDelivery) -> str:
        return short_webex_id(obj.data_id)

    # Fixed-choice filters: the default filter for a plain CharField runs SELECT DISTINCT
    # over the whole table on every page load. No date_hierarchy for the same reason.
    list_filter = ("status", "transport", DeliveryResourceFilter, DeliveryEventFilter)
    list_select_related = ("webhook", "credential")
    search_fields = ("dedupe_key", "data_id", "actor_id")
    # Fast with 100,000+ rows: newest first by primary key (indexed; ids grow with
    # received_at), no full COUNT(*) for "x total", an estimated count when unfiltered.
    ordering = ("-pk",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        "transport",
        "webhook",
        "credential",
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
