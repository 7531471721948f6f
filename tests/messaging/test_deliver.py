"""messaging.deliver (the task's body) against the fake Webex over real HTTP: every branch.

``deliver`` never sleeps; it returns what the task must do. These tests call it directly and
check the row, the fake's state and the returned countdown.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from django_webexteams import messaging, signals
from django_webexteams.client import ApiError
from django_webexteams.clients import client_for, rate_limit_key
from django_webexteams.messaging import countdown, delivery, ratelimit
from django_webexteams.models import OutboundMessage
from django_webexteams.tasks import deliver_message
from django_webexteams.testing.app import DROP

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(request: Any) -> dict[str, list[dict[str, Any]]]:
    """Collect message_sent / message_failed signals."""
    got: dict[str, list[dict[str, Any]]] = {"sent": [], "failed": []}

    def on_sent(sender: Any, **kwargs: Any) -> None:
        got["sent"].append(kwargs)

    def on_failed(sender: Any, **kwargs: Any) -> None:
        got["failed"].append(kwargs)

    signals.message_sent.connect(on_sent, weak=False)
    signals.message_failed.connect(on_failed, weak=False)
    request.addfinalizer(lambda: signals.message_sent.disconnect(on_sent))
    request.addfinalizer(lambda: signals.message_failed.disconnect(on_failed))
    return got


def queue(**kwargs: Any) -> OutboundMessage:
    return messaging.send_message(enqueue=False, **kwargs)


def posts(webex: Any) -> int:
    return int(webex.fake.count("POST", "/messages"))


def texts(webex: Any, room_id: str | None = None) -> list[str]:
    return [m.get("text") for m in webex.fake.messages_in(room_id or webex.room.id)]


def direct_texts(webex: Any) -> list[str]:
    with webex.fake.state.lock:
        return [m.text for m in webex.fake.state.messages.values() if m.room_id != webex.room.id]


def drop_after_store(webex: Any, times: int = 1) -> list[int]:
    """Make the fake hang up on the next ``times`` POST /messages *after* storing the message
    (what a connection lost on the way back looks like). Returns a list the drops are counted
    in. The fake's own drop_next_connection hangs up before storing."""
    app = webex.fake.app
    original = app.handle
    dropped: list[int] = []

    def handle(environ: dict[str, Any]) -> Any:
        response = original(environ)
        is_post = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/v1/messages"
        if is_post and len(dropped) < times and getattr(response, "status", 0) == 200:
            dropped.append(1)
            return DROP
        return response

    app.handle = handle
    return dropped


def test_success(webex: Any, received: Any) -> None:
    row = queue(room_id=webex.room.id, markdown="**deployed**", text="deployed")
    result = messaging.deliver(row.pk)
    assert result.outcome == "sent"
    row.refresh_from_db()
    [stored] = webex.fake.messages_in(webex.room.id)
    assert (row.status, row.webex_message_id, row.attempts) == ("sent", stored["id"], 1)
    assert row.tracking_id.startswith("ROUTER_") and row.sent_at is not None
    assert stored["markdown"] == "**deployed**"
    assert [k["outbound_message"].pk for k in received["sent"]] == [row.pk]
    assert received["failed"] == []


def test_already_sent_does_nothing(webex: Any, received: Any) -> None:
    row = queue(room_id=webex.room.id, text="once")
    messaging.deliver(row.pk)
    before = len(webex.fake.requests)
    assert messaging.deliver(row.pk).outcome == "skipped"
    assert len(webex.fake.requests) == before
    assert len(received["sent"]) == 1


def test_deleted_row_is_skipped(webex: Any) -> None:
    row = queue(room_id=webex.room.id, text="gone")
    OutboundMessage.objects.filter(pk=row.pk).delete()
    assert messaging.deliver(row.pk).outcome == "skipped"


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_client_errors_fail_without_retry(webex: Any, received: Any, status: int) -> None:
    webex.fake.fail_next(status, method="POST", path="/messages", message="Nope, not that.")
    row = queue(room_id=webex.room.id, text="refused")
    result = messaging.deliver(row.pk)
    assert result.outcome == "failed" and result.countdown is None
    row.refresh_from_db()
    assert row.status == "failed"
    assert f"{status}" in row.last_error and "Nope, not that." in row.last_error
    assert row.tracking_id.startswith("ROUTER_")
    [event] = received["failed"]
    assert event["outbound_message"].pk == row.pk
    assert isinstance(event["error"], ApiError) and event["error"].status_code == status
    assert texts(webex) == []


def test_unknown_room_fails(webex: Any, received: Any) -> None:
    row = queue(room_id="Y2lzY29zcGFyazovL3VzL1JPT00vbm9uZQ", text="nowhere")
    assert messaging.deliver(row.pk).outcome == "failed"
    assert received["failed"][0]["error"].status_code in (400, 404)


def test_401_fails(webex: Any, settings: Any, received: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "not-a-valid-token"}
    row = queue(room_id=webex.room.id, text="who am I")
    assert messaging.deliver(row.pk).outcome == "failed"
    row.refresh_from_db()
    assert "401" in row.last_error
    assert "not-a-valid-token" not in row.last_error


def test_no_bot_token_fails_with_advice(webex: Any, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": None}
    row = queue(room_id=webex.room.id, text="x")
    assert messaging.deliver(row.pk).outcome == "failed"
    row.refresh_from_db()
    assert "BOT_TOKEN" in row.last_error


def test_429_retries_after_retry_after_and_closes_the_gate(webex: Any) -> None:
    webex.fake.fail_next(429, retry_after=20, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="later")
    result = messaging.deliver(row.pk)
    assert result.outcome == "retry"
    # Retry-After plus a small jitter (at most a quarter of the wait, at least up to 1 s).
    assert 20 <= (result.countdown or 0) <= 25
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 1)
    assert "429" in row.last_error
    # The gate stores whole milliseconds, rounded up: at most 1 ms over the 20 s.
    assert 15 < ratelimit.blocked_for(rate_limit_key(None)) <= 20.001
    # The 429 proves Webex did not store it: no reconciliation needed next time.
    assert "reconcile_since" not in result.retry_kwargs


def test_closed_gate_retries_without_calling_webex(webex: Any) -> None:
    ratelimit.block(rate_limit_key(None), 30)
    row = queue(room_id=webex.room.id, text="wait for it")
    result = messaging.deliver(row.pk)
    assert result.outcome == "retry" and 30 - 1 < (result.countdown or 0) <= 30 + 7.5
    assert webex.fake.requests == []
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 0)
    ratelimit.unblock(rate_limit_key(None))
    assert messaging.deliver(row.pk).outcome == "sent"


def test_gate_is_per_credential(webex: Any) -> None:
    ratelimit.block("webexteams:cred:99999", 30)
    row = queue(room_id=webex.room.id, text="other credential blocked, not mine")
    assert messaging.deliver(row.pk).outcome == "sent"


@pytest.mark.parametrize("value", ["rand(30),add(30)", "", "-5"])
def test_malformed_retry_after(webex: Any, value: str) -> None:
    webex.fake.fail_next(429, retry_after=value, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="odd header")
    result = messaging.deliver(row.pk)
    assert result.outcome == "retry"
    # Webex quirk: malformed -> 15 s (as the official SDK), never below 1 s.
    assert 1 <= (result.countdown or 0) <= 15 + 3.75


def test_423_retries_without_the_gate(webex: Any) -> None:
    webex.fake.fail_next(423, retry_after=5, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="scanning")
    result = messaging.deliver(row.pk)
    assert result.outcome == "retry" and 5 <= (result.countdown or 0) <= 5 + 1.25  # jitter
    assert ratelimit.blocked_for(rate_limit_key(None)) == 0.0


def test_countdown_is_capped_by_max_countdown(webex: Any, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "MAX_COUNTDOWN": 100}
    webex.fake.fail_next(429, retry_after=3000, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="long wait")
    assert messaging.deliver(row.pk).countdown == 100
    # The gate remembers the whole wait, so the task hops again instead of calling Webex.
    again = messaging.deliver(row.pk)
    assert again.countdown == 100 and posts(webex) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_back_off_then_deliver(webex: Any, settings: Any, status: int) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_BACKOFF_BASE": 4.0}
    webex.fake.fail_next(status, times=2, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="eventually")
    first = messaging.deliver(row.pk)
    assert first.outcome == "retry" and 0 <= (first.countdown or 0) <= 4.0
    assert first.retry_kwargs["failures"] == 1 and first.retry_kwargs["reconcile_since"]
    second = messaging.deliver(row.pk, **first.retry_kwargs)
    assert second.outcome == "retry" and 0 <= (second.countdown or 0) <= 8.0
    assert second.retry_kwargs["failures"] == 2
    # The earliest uncertain attempt is kept.
    assert second.retry_kwargs["reconcile_since"] == first.retry_kwargs["reconcile_since"]
    assert messaging.deliver(row.pk, **second.retry_kwargs).outcome == "sent"
    assert texts(webex) == ["eventually"]
    row.refresh_from_db()
    assert row.attempts == 3


def test_backoff_is_bounded_by_max_attempts(webex: Any, settings: Any, received: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_MAX_ATTEMPTS": 3}
    webex.fake.fail_next(503, times=10, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="doomed")
    kwargs: dict[str, Any] = {}
    outcomes = []
    for _ in range(3):
        result = messaging.deliver(row.pk, **kwargs)
        outcomes.append(result.outcome)
        kwargs = result.retry_kwargs
    assert outcomes == ["retry", "retry", "failed"]
    row.refresh_from_db()
    assert row.status == "failed" and "gave up after 3 attempts" in row.last_error
    assert len(received["failed"]) == 1


def test_backoff_has_full_jitter_and_a_cap(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "SEND_BACKOFF_BASE": 2.0,
                           "SEND_BACKOFF_MAX": 50.0}  # fmt: skip
    samples = [countdown._backoff_countdown(10) for _ in range(300)]
    assert all(0 <= s <= 50.0 for s in samples)
    assert min(samples) < 10 and max(samples) > 40  # spread over [0, cap], not clustered


def test_dropped_connection_before_storing_is_retried_once(webex: Any) -> None:
    webex.fake.drop_next_connection(path="/messages")
    row = queue(room_id=webex.room.id, text="dropped")
    first = messaging.deliver(row.pk)
    assert first.outcome == "retry" and "reconcile_since" in first.retry_kwargs
    assert messaging.deliver(row.pk, **first.retry_kwargs).outcome == "sent"
    assert texts(webex) == ["dropped"]


def test_drop_after_storing_is_reconciled_in_a_direct_space(webex: Any) -> None:
    dropped = drop_after_store(webex)
    row = queue(to_person_email=webex.alice.email, text="did it arrive?")
    first = messaging.deliver(row.pk)
    assert first.outcome == "retry" and dropped == [1]
    assert direct_texts(webex) == ["did it arrive?"]  # Webex stored it, we did not hear
    second = messaging.deliver(row.pk, **first.retry_kwargs)
    assert second.outcome == "sent" and second.reconciled
    assert direct_texts(webex) == ["did it arrive?"]  # found, not posted again
    assert posts(webex) == 1
    row.refresh_from_db()
    [stored] = webex.fake.state.messages.values()
    assert row.webex_message_id == stored.id


def test_drop_after_storing_in_a_group_space_is_the_documented_duplicate(webex: Any) -> None:
    """A bot cannot list a group space's messages (Webex wants mentionedPeople=me), so the
    unknown outcome is resolved by posting again: at-least-once, one duplicate."""
    drop_after_store(webex)
    row = queue(room_id=webex.room.id, text="maybe twice")
    first = messaging.deliver(row.pk)
    second = messaging.deliver(row.pk, **first.retry_kwargs)
    assert second.outcome == "sent" and not second.reconciled
    assert texts(webex) == ["maybe twice", "maybe twice"]


def test_reconciliation_ignores_messages_owned_by_other_rows(webex: Any) -> None:
    same = queue(to_person_email=webex.alice.email, text="same words")
    messaging.deliver(same.pk)
    row = queue(to_person_email=webex.alice.email, text="same words")
    since = (timezone.now() - timedelta(seconds=5)).isoformat()
    result = messaging.deliver(row.pk, reconcile_since=since)
    assert result.outcome == "sent" and not result.reconciled
    assert direct_texts(webex) == ["same words", "same words"]


def test_a_live_lease_is_not_taken(webex: Any) -> None:
    row = queue(room_id=webex.room.id, text="in flight elsewhere")
    OutboundMessage.objects.filter(pk=row.pk).update(status="sending", updated_at=timezone.now())
    result = messaging.deliver(row.pk)
    lease = messaging.lease_seconds()
    assert lease == 2.0 + 5.0 + 30.0
    assert result.outcome == "retry" and lease - 2 < (result.countdown or 0) <= lease * 1.25 + 1
    assert webex.fake.requests == []


def test_an_expired_lease_is_taken_over_and_reconciled(webex: Any, settings: Any) -> None:
    """A worker died mid-send after Webex stored the message: the next copy finds it."""
    row = queue(to_person_email=webex.alice.email, text="worker died")
    started = timezone.now() - timedelta(minutes=5)
    OutboundMessage.objects.filter(pk=row.pk).update(status="sending", attempts=1,
                                                     updated_at=started)  # fmt: skip
    bot_client = client_for(None)
    bot_client.messages.create(to_person_email=webex.alice.email, text="worker died")
    result = messaging.deliver(row.pk)
    assert result.outcome == "sent" and result.reconciled
    assert direct_texts(webex) == ["worker died"]
    row.refresh_from_db()
    assert row.attempts == 2


def test_an_expired_lease_without_a_stored_message_posts(webex: Any) -> None:
    row = queue(to_person_email=webex.alice.email, text="never reached Webex")
    OutboundMessage.objects.filter(pk=row.pk).update(
        status="sending", updated_at=timezone.now() - timedelta(minutes=5)
    )
    result = messaging.deliver(row.pk)
    assert result.outcome == "sent" and not result.reconciled
    assert direct_texts(webex) == ["never reached Webex"]


def test_file_is_uploaded_then_deleted(webex: Any, tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(b"\x89PNG fake image")
    row = queue(room_id=webex.room.id, text="chart", file=path)
    stored_name = str(row.file.name)
    assert row.file.storage.exists(stored_name)
    assert messaging.deliver(row.pk).outcome == "sent"
    [message] = webex.fake.messages_in(webex.room.id)
    assert len(message["files"]) == 1
    info = client_for(None).contents.info(message["files"][0])
    assert info.filename == "chart.png" and info.content_type == "image/png"
    row.refresh_from_db()
    assert not row.file and row.file_name == "chart.png"
    assert not row.file.storage.exists(stored_name)


def test_file_kept_when_sending_failed(webex: Any) -> None:
    webex.fake.fail_next(400, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, file=("a.txt", b"abc", "text/plain"))
    assert messaging.deliver(row.pk).outcome == "failed"
    row.refresh_from_db()
    assert row.file and row.file.storage.exists(str(row.file.name))


def test_card(webex: Any) -> None:
    card = {"contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "version": "1.2", "body": []}}  # fmt: skip
    row = queue(room_id=webex.room.id, text="card fallback", attachments=card)
    assert messaging.deliver(row.pk).outcome == "sent"
    [message] = webex.fake.messages_in(webex.room.id)
    assert message["attachments"][0]["contentType"] == card["contentType"]


def test_failing_receiver_does_not_undo_sent(webex: Any) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.message_sent.connect(broken, weak=False)
    try:
        row = queue(room_id=webex.room.id, text="still sent")
        assert messaging.deliver(row.pk).outcome == "sent"
    finally:
        signals.message_sent.disconnect(broken)
    row.refresh_from_db()
    assert row.status == "sent"


# --- the Celery task shim ---------------------------------------------------------------------


def test_task_options() -> None:
    assert deliver_message.name == "webexteams.deliver_message"
    assert deliver_message.acks_late is True
    assert deliver_message.reject_on_worker_lost is True
    assert deliver_message.max_retries is None


def test_task_retries_with_countdown_and_kwargs(
    webex: Any, monkeypatch: Any, settings: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "CELERY_QUEUE": "webex"}
    calls: list[dict[str, Any]] = []

    class Stop(Exception):
        pass

    def fake_retry(**kwargs: Any) -> Exception:
        calls.append(kwargs)
        return Stop()

    monkeypatch.setattr(deliver_message, "retry", fake_retry)
    webex.fake.fail_next(503, method="POST", path="/messages")
    row = queue(room_id=webex.room.id, text="via the task")
    with pytest.raises(Stop):
        deliver_message(row.pk)
    [call] = calls
    assert call["args"] == (row.pk,) and call["queue"] == "webex"
    assert call["kwargs"]["failures"] == 1 and "reconcile_since" in call["kwargs"]
    assert call["max_retries"] is None and call["countdown"] >= 0
    assert deliver_message(row.pk, **call["kwargs"]) == "sent"


def test_enqueue_uses_the_configured_queue(monkeypatch: Any, settings: Any) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(deliver_message, "apply_async", lambda **kw: sent.append(kw))
    messaging.enqueue_delivery(7)
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "CELERY_QUEUE": "webex"}
    messaging.enqueue_delivery(8)
    assert sent == [{"args": (7,)}, {"args": (8,), "queue": "webex"}]


def test_missing_stored_file_fails(webex: Any, received: Any) -> None:
    row = queue(room_id=webex.room.id, file=("gone.txt", b"abc"))
    row.file.storage.delete(str(row.file.name))
    assert messaging.deliver(row.pk).outcome == "failed"
    row.refresh_from_db()
    assert "cannot read the queued file" in row.last_error
    assert posts(webex) == 0


def test_unexpected_error_is_retried_as_unknown_outcome(webex: Any, monkeypatch: Any) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug somewhere below")

    monkeypatch.setattr(delivery, "_post", explode)
    row = queue(room_id=webex.room.id, text="bug")
    result = messaging.deliver(row.pk)
    assert result.outcome == "retry" and "reconcile_since" in result.retry_kwargs
    row.refresh_from_db()
    assert row.status == "queued" and "a bug somewhere below" in row.last_error


def test_the_bot_client_is_reused_until_a_setting_changes(webex: Any, settings: Any) -> None:
    first = delivery._client_for(None)
    assert delivery._client_for(None) is first
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "another-bot-token"}
    assert delivery._client_for(None) is not first
