"""manage.py webexteams_send and webexteams_outbox."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_webexteams import messaging
from django_webexteams.models import OutboundMessage

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_send_now(webex: Any) -> None:
    out = run("webexteams_send", "--room", webex.room.id, "--markdown", "**now**", "--now")
    row = OutboundMessage.objects.get()
    assert row.status == "sent" and row.webex_message_id in out
    assert [m["markdown"] for m in webex.fake.messages_in(webex.room.id)] == ["**now**"]


def test_send_now_to_an_email_with_a_file(webex: Any, tmp_path: Any) -> None:
    path = tmp_path / "log.txt"
    path.write_text("lines")
    run("webexteams_send", "--email", webex.alice.email, "--text", "log", "--file", str(path),
        "--now")  # fmt: skip
    row = OutboundMessage.objects.get()
    assert row.status == "sent" and not row.file


def test_send_through_the_queue(
    webex: Any, enqueued: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        out = run("webexteams_send", "--person", webex.alice.id, "--text", "queued")
    row = OutboundMessage.objects.get()
    assert f"Queued outbound message {row.pk}" in out
    assert enqueued == [row.pk] and row.status == "queued"
    assert webex.fake.messages_in(webex.room.id) == []


def test_send_now_retryable_failure_leaves_it_queued(webex: Any) -> None:
    webex.fake.fail_next(503, method="POST", path="/messages")
    with pytest.raises(CommandError, match="stays queued"):
        run("webexteams_send", "--room", webex.room.id, "--text", "x", "--now")
    assert OutboundMessage.objects.get().status == "queued"


def test_send_now_permanent_failure(webex: Any) -> None:
    webex.fake.fail_next(403, method="POST", path="/messages", message="Not a member.")
    with pytest.raises(CommandError, match=r"failed: .*Not a member"):
        run("webexteams_send", "--room", webex.room.id, "--text", "x", "--now")


def test_send_invalid_arguments(webex: Any) -> None:
    with pytest.raises(CommandError, match="nothing to send"):
        run("webexteams_send", "--room", webex.room.id)
    with pytest.raises(CommandError, match="No credential"):
        run("webexteams_send", "--room", webex.room.id, "--text", "x", "--credential", "999")


def test_outbox_list(enqueued: list[int]) -> None:
    ok = messaging.send_message(room_id="R1", text="fine", enqueue=False)
    bad = messaging.send_message(to_person_email="x@example.com", text="broken", enqueue=False)
    OutboundMessage.objects.filter(pk=bad.pk).update(status="failed", last_error="400 Bad thing")
    everything = run("webexteams_outbox", "list")
    assert "2 message(s)" in everything and "fine" in everything and "broken" in everything
    failed = run("webexteams_outbox", "list", "--status", "failed")
    assert "1 message(s)" in failed and "400 Bad thing" in failed and f"{ok.pk:>6}  " not in failed


def test_outbox_retry(enqueued: list[int], django_capture_on_commit_callbacks: Any) -> None:
    rows = [messaging.send_message(room_id="R1", text=f"m{i}", enqueue=False) for i in range(4)]
    OutboundMessage.objects.filter(pk__in=[r.pk for r in rows[:3]]).update(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        out = run("webexteams_outbox", "retry", str(rows[0].pk), str(rows[3].pk))
    assert f"{rows[0].pk}: queued again" in out
    assert f"{rows[3].pk}: not a failed outbound message" in out
    assert enqueued == [rows[0].pk]
    with django_capture_on_commit_callbacks(execute=True):
        run("webexteams_outbox", "retry", "--failed")
    assert sorted(enqueued) == sorted([rows[0].pk, rows[1].pk, rows[2].pk])
    assert not OutboundMessage.objects.filter(status="failed").exists()


def test_outbox_retry_stuck(enqueued: list[int]) -> None:
    row = messaging.send_message(room_id="R1", text="lost task", enqueue=False)
    OutboundMessage.objects.filter(pk=row.pk).update(
        updated_at=timezone.now() - timedelta(minutes=30)
    )
    out = run("webexteams_outbox", "retry", "--stuck", "15")
    assert "1 stuck message(s) re-enqueued" in out and enqueued == [row.pk]


def test_outbox_retry_needs_a_selection() -> None:
    with pytest.raises(CommandError, match="--failed"):
        run("webexteams_outbox", "retry")
