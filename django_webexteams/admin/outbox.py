"""The admin of :class:`~django_webexteams.models.OutboundMessage`: the outbox, resend."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_webexteams.admin.columns import short_webex_id
from django_webexteams.admin.encrypted import EncryptedFieldsAdmin
from django_webexteams.admin.paginator import EstimatedCountPaginator
from django_webexteams.models import (
    OutboundMessage,
)

__all__ = [
    "OutboundMessageAdmin",
]


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
