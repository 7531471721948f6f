"""send_message / send_template / resend: validation, the outbox row, on-commit enqueueing,
idempotency keys, files."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from django_webexteams import messaging
from django_webexteams.client import MarkdownBuilder
from django_webexteams.messaging import InvalidMessageError, send_message, send_template
from django_webexteams.models import OutboundMessage

pytestmark = pytest.mark.django_db

ROOM = "Y2lzY29zcGFyazovL3VzL1JPT00vYWJj"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"text": "hi"}, "exactly one of"),
        ({"room_id": ROOM, "to_person_email": "a@example.com", "text": "hi"}, "exactly one"),
        ({"room_id": ROOM}, "nothing to send"),
        ({"room_id": ROOM, "text": ""}, "nothing to send"),
        ({"to_person_email": "not-an-email", "text": "hi"}, "not an e-mail"),
        ({"room_id": ROOM, "text": "x" * 7440}, "7440 bytes"),
        # 2480 three-byte characters: 7440 bytes, though only 2480 characters.
        ({"room_id": ROOM, "markdown": "€" * 2480}, "7440 bytes"),
        ({"room_id": ROOM, "text": "hi", "file": [("a.txt", b"1"), ("b.txt", b"2")]}, "one file"),
        ({"room_id": ROOM, "file": b"data"}, "need a name"),
        ({"room_id": ROOM, "file": Path("/nonexistent/file.txt")}, "no such file"),
        ({"room_id": ROOM, "file": "https://example.com/" + "a" * 250}, "255 characters"),
        ({"room_id": ROOM, "attachments": [{"contentType": "x", "content": {}}] * 2}, "one card"),
        ({"room_id": ROOM, "attachments": {"content": {}}}, "card dict"),
        (
            {
                "room_id": ROOM,
                "file": ("a.txt", b"1"),
                "attachments": {"contentType": "x", "content": {}},
            },
            "cannot combine",
        ),
    ],
)
def test_invalid_arguments_raise_before_storing(
    kwargs: dict[str, Any], match: str, enqueued: list[int]
) -> None:
    with pytest.raises(InvalidMessageError, match=match):
        send_message(**kwargs)
    assert OutboundMessage.objects.count() == 0
    assert enqueued == []


def test_limit_is_7439_utf8_bytes(enqueued: list[int]) -> None:
    row = send_message(room_id=ROOM, text="x" * 7439, markdown="€" * 2479 + "xx")
    assert len(row.markdown.encode()) == 7439


def test_row_and_enqueue_on_commit(
    enqueued: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = send_message(to_person_email="bob@example.com", text="hello", parent_id="P1")
        assert enqueued == []  # not before the commit
    assert len(callbacks) == 1
    assert enqueued == [row.pk]
    row.refresh_from_db()
    assert (row.status, row.to_person_email, row.text, row.parent_id, row.attempts) == (
        "queued", "bob@example.com", "hello", "P1", 0,
    )  # fmt: skip
    assert row.room_id == "" and row.markdown == "" and row.credential is None


def test_rollback_enqueues_nothing(
    enqueued: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            send_message(room_id=ROOM, text="never")
            raise Boom
    assert enqueued == []
    assert OutboundMessage.objects.count() == 0
    assert callbacks == []


def test_markdown_builder_is_accepted_as_is(enqueued: list[int]) -> None:
    builder = MarkdownBuilder()
    built = builder.bold("Deploy").text(" finished")
    row = send_message(room_id=ROOM, markdown=built)
    assert row.markdown == str(built)
    assert "Deploy" in row.markdown


def test_send_template_renders_markdown(enqueued: list[int], settings: Any, tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "deploy.md").write_text("\n**{{ app }}** deployed by {{ who }}\n\n")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path / "tpl"]}]
    row = send_template("deploy.md", {"app": "shop", "who": "Ann"}, room_id=ROOM)
    assert row.markdown == "**shop** deployed by Ann"
    with pytest.raises(TypeError):
        send_template("deploy.md", {}, room_id=ROOM, markdown="x")


def test_idempotency_key_returns_the_existing_row(
    enqueued: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = send_message(room_id=ROOM, text="once", idempotency_key="order-42")
    with django_capture_on_commit_callbacks(execute=True):
        second = send_message(room_id=ROOM, text="once", idempotency_key="order-42")
    assert second.pk == first.pk
    assert OutboundMessage.objects.count() == 1
    assert enqueued == [first.pk]


def test_idempotency_key_integrity_error_path(
    enqueued: list[int], monkeypatch: Any, settings: Any
) -> None:
    """The lookup misses (a concurrent call has not committed yet), the insert then hits the
    unique constraint: the existing row is returned and the caller's transaction survives."""
    existing = send_message(room_id=ROOM, text="once", idempotency_key="race")
    real_filter = OutboundMessage.objects.filter
    misses = {"n": 0}

    def filter_missing_first(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("idempotency_key") == "race" and misses["n"] == 0:
            misses["n"] += 1
            return real_filter(pk=-1)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(OutboundMessage.objects, "filter", filter_missing_first)
    with transaction.atomic():
        again = send_message(room_id=ROOM, text="once", idempotency_key="race",
                             file=("a.txt", b"data"))  # fmt: skip
        assert again.pk == existing.pk
        assert OutboundMessage.objects.count() == 1  # the transaction is still usable
    assert misses["n"] == 1
    # The file stored for the losing insert was removed again.
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_idempotency_key_race_between_transactions(enqueued: list[int]) -> None:
    """Two callers with the same key in two open transactions: one row, both get it."""
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                row = send_message(room_id=ROOM, text="race", idempotency_key="k-race")
            results.append(row.pk)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert OutboundMessage.objects.filter(idempotency_key="k-race").count() == 1
    assert enqueued == [results[0]]


@pytest.mark.parametrize("value", ["/proc/self/environ", "report.pdf", "file:///etc/passwd"])
def test_send_message_never_reads_a_string_as_a_path(
    enqueued: list[int], tmp_path: Path, value: str
) -> None:
    """Attack (issue 16): file=<user-supplied "URL"> must not queue a local file."""
    from django_webexteams.messaging import InvalidMessageError

    existing = tmp_path / "report.pdf"
    existing.write_bytes(b"secret")
    for file in (value, str(existing)):
        with pytest.raises(InvalidMessageError, match=r"pathlib\.Path"):
            send_message(room_id=ROOM, text="x", file=file)
    assert not OutboundMessage.objects.exists() and enqueued == []


def test_send_message_takes_an_uppercase_url_as_a_url(enqueued: list[int]) -> None:
    row = send_message(room_id=ROOM, text="pic", file="HTTPS://example.com/a.png")
    assert row.file_name == "HTTPS://example.com/a.png" and not row.file


def test_file_is_stored_under_the_prefix(enqueued: list[int], tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 fake")
    row = send_message(room_id=ROOM, text="see attached", file=path)
    assert row.file_name == "report.pdf"
    stored = str(row.file.name)
    assert stored.startswith("webexteams/outbox/") and stored.endswith("/report.pdf")
    with default_storage.open(stored, "rb") as fh:
        assert fh.read() == b"%PDF-1.4 fake"


@pytest.mark.parametrize(
    "make_file",
    [
        lambda: ("notes.txt", b"abc", "text/plain"),
        lambda: ContentFile(b"abc", name="notes.txt"),
    ],
)
def test_file_variants(make_file: Any, enqueued: list[int]) -> None:
    row = send_message(room_id=ROOM, file=make_file())
    assert row.file_name == "notes.txt"
    with default_storage.open(str(row.file.name), "rb") as fh:
        assert fh.read() == b"abc"


def test_file_url_is_not_stored(enqueued: list[int]) -> None:
    row = send_message(room_id=ROOM, text="pic", file="https://example.com/a.png?x=1")
    assert not row.file
    assert row.file_name == "https://example.com/a.png?x=1"


def test_resend_only_failed(enqueued: list[int], django_capture_on_commit_callbacks: Any) -> None:
    row = send_message(room_id=ROOM, text="x", enqueue=False)
    with pytest.raises(InvalidMessageError, match="only failed"):
        messaging.resend(row)
    OutboundMessage.objects.filter(pk=row.pk).update(status="failed", last_error="400 bad")
    with django_capture_on_commit_callbacks(execute=True):
        messaging.resend(row)
    assert (row.status, row.last_error) == ("queued", "")
    assert enqueued == [row.pk]


def test_requeue_stuck(enqueued: list[int]) -> None:
    old = send_message(room_id=ROOM, text="old", enqueue=False)
    new = send_message(room_id=ROOM, text="new", enqueue=False)
    sent = send_message(room_id=ROOM, text="sent", enqueue=False)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    OutboundMessage.objects.filter(pk__in=[old.pk, sent.pk]).update(updated_at=an_hour_ago)
    OutboundMessage.objects.filter(pk=sent.pk).update(status="sent")
    assert messaging.requeue_stuck(timedelta(minutes=10)) == 1
    assert enqueued == [old.pk]
    assert new.pk not in enqueued
