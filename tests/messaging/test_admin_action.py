"""The OutboundMessage admin action "send again"."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from django_webexteams import messaging
from django_webexteams.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_send_again_requeues_failed_rows_only(
    admin_client: Any, enqueued: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    failed = messaging.send_message(room_id="R1", text="failed", enqueue=False)
    sent = messaging.send_message(room_id="R1", text="sent", enqueue=False)
    OutboundMessage.objects.filter(pk=failed.pk).update(status="failed", last_error="503")
    OutboundMessage.objects.filter(pk=sent.pk).update(status="sent")
    url = reverse("admin:webexteams_outboundmessage_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url,
            {"action": "send_again", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("1 message(s) queued again" in m for m in shown)
    assert any("1 message(s) skipped" in m for m in shown)
    assert enqueued == [failed.pk]
    statuses = dict(OutboundMessage.objects.values_list("pk", "status"))
    assert statuses == {failed.pk: "queued", sent.pk: "sent"}
