"""Batched outcome writes of the sync receiver (django_webexteams/outcomes.py): on
PostgreSQL in autocommit a delivery costs one statement in its request, "processed" and
"ignored" are written by a background thread in batches, "failed" at once, and nothing is
lost on a normal exit. docs/webhooks.md, "Performance and its trade-offs"."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_webexteams import signals, webhooks
from django_webexteams.models import Credential, WebhookDelivery
from django_webexteams.webhooks import outcomes
from tests.celery_workers import database_url_for_workers
from tests.webhooks.cases import encode, payload, signed
from tests.webhooks.conftest import Recorder, make_webhook, receiver_path, send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def deliver(client: Client, webhook: Any, **overrides: Any) -> Any:
    body = encode(payload(webhook.webex_id, **overrides))
    return send(client, signed(receiver_path(webhook.uuid), webhook.secret, body))


def batch_every(settings: Any, seconds: float) -> None:
    """Outcomes batched at most ``seconds`` apart (3600: only when flushed or full)."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_OUTCOME_BATCH_SECONDS": seconds}


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_delivery_costs_one_statement_and_the_outcome_follows_in_a_batch(
    recorder: Recorder, settings: Any
) -> None:
    batch_every(settings, 3600)
    webhook = make_webhook()
    client = Client()
    deliver(client, webhook, actorId="warm-up")  # the registration is cached now
    with CaptureQueriesContext(connection) as queries:
        response = deliver(client, webhook, actorId="alice")
    assert response.content == b"ok"
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    assert recorder.names().count("webhook_received") == 2
    delivery = WebhookDelivery.objects.get(actor_id="alice")
    # Dispatched and counted as an attempt by the INSERT itself; the outcome is pending.
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.RECEIVED, 1)
    assert outcomes._writer.pending() == 2
    assert webhooks.flush_outcomes() == 2
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.processed_at is not None
    assert delivery.received_at <= delivery.processed_at <= timezone.now()


def test_the_writer_thread_writes_within_the_interval_without_being_asked(
    recorder: Recorder, settings: Any
) -> None:
    batch_every(settings, 0.05)
    webhook = make_webhook()
    client = Client()
    for n in range(20):
        assert deliver(client, webhook, data={"id": f"m{n}"}).content == b"ok"
    processed = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PROCESSED)
    assert wait_for(lambda: processed.count() == 20)
    assert outcomes._writer.pending() == 0


def test_a_full_batch_is_written_at_once(recorder: Recorder, settings: Any) -> None:
    batch_every(settings, 3600)
    webhook = make_webhook()
    client = Client()
    with mock.patch.object(outcomes, "BATCH_MAX", 5):
        for n in range(5):
            deliver(client, webhook, data={"id": f"m{n}"})
        processed = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PROCESSED)
        assert wait_for(lambda: processed.count() == 5)


def test_a_failed_outcome_is_written_at_once_with_its_error(settings: Any) -> None:
    batch_every(settings, 3600)

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.webhook_received.connect(broken)
    try:
        webhook = make_webhook()
        assert deliver(Client(), webhook).status_code == 200
    finally:
        signals.webhook_received.disconnect(broken)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "receiver bug" in delivery.error and "RuntimeError" in delivery.traceback
    assert outcomes._writer.pending() == 0


def test_an_own_event_is_batched_as_ignored(recorder: Recorder) -> None:
    bot = Credential.objects.create(
        kind="bot", name="bot", webex_person_id="the-bot", access_token="token"
    )
    webhook = make_webhook(credential=bot)
    assert deliver(Client(), webhook, actorId="the-bot").content == b"ok"
    assert recorder.names() == []
    assert webhooks.flush_outcomes() == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.IGNORED


def test_a_row_changed_meanwhile_is_left_alone(recorder: Recorder, settings: Any) -> None:
    """The batch only turns rows that still read "received": a delivery reprocessed and
    failed (or pruned) since is not overwritten with a stale "processed"."""
    batch_every(settings, 3600)
    webhook = make_webhook()
    client = Client()
    deliver(client, webhook, actorId="a")
    deliver(client, webhook, actorId="b")
    WebhookDelivery.objects.filter(actor_id="a").update(
        status=WebhookDelivery.Status.FAILED, error="later failure"
    )
    WebhookDelivery.objects.filter(actor_id="b").delete()
    webhooks.flush_outcomes()
    row = WebhookDelivery.objects.get()
    assert (row.status, row.error) == (WebhookDelivery.Status.FAILED, "later failure")


def test_a_failed_batch_is_retried_then_left_received_with_an_error(
    recorder: Recorder, settings: Any, caplog: Any
) -> None:
    batch_every(settings, 3600)
    webhook = make_webhook()
    deliver(Client(), webhook)
    real_write = outcomes._write
    calls = []

    def flaky(using: str, rows: Any) -> None:
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("connection lost")
        real_write(using, rows)

    with mock.patch.object(outcomes, "_write", flaky):
        assert outcomes.flush() == 0  # failed; the row is kept for the next batch
        assert outcomes._writer.pending() == 1
        assert outcomes.flush() == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PROCESSED

    deliver(Client(), webhook, actorId="never")
    caplog.set_level(logging.ERROR, logger="django_webexteams.webhooks")
    with mock.patch.object(outcomes, "_write", side_effect=RuntimeError("down")):
        for _ in range(outcomes._MAX_TRIES):
            assert outcomes.flush() == 0
    assert outcomes._writer.pending() == 0
    assert "stay 'received'" in caplog.text
    assert WebhookDelivery.objects.get(actor_id="never").status == "received"


def test_without_a_running_thread_the_request_writes_the_batch(
    recorder: Recorder, settings: Any
) -> None:
    """A server that does not run threads (uWSGI without --enable-threads): once the
    oldest pending outcome is several intervals old, the next request writes them."""
    batch_every(settings, 0.01)
    webhook = make_webhook()
    client = Client()
    with mock.patch.object(outcomes._Writer, "_start"):  # the thread never starts
        deliver(client, webhook, actorId="first")
        time.sleep(0.01 * outcomes._STALL_INTERVALS + 0.05)
        deliver(client, webhook, actorId="second")
    statuses = set(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == {WebhookDelivery.Status.PROCESSED}


def test_a_forked_child_does_not_write_its_parents_rows(settings: Any) -> None:
    batch_every(settings, 3600)
    writer = outcomes._Writer()
    writer.defer("default", 1, "processed", timezone.now(), 3600)
    assert writer.pending() == 1
    with mock.patch.object(os, "getpid", return_value=os.getpid() + 1):
        writer.defer("default", 2, "processed", timezone.now(), 3600)
        assert [row[1] for row in writer._pending] == [2]
    writer.shutdown()


def test_inside_atomic_the_dispatch_waits_for_the_commit_then_batches(
    recorder: Recorder, settings: Any
) -> None:
    """A receiver view wrapped in atomic() (ATOMIC_REQUESTS): nothing is dispatched before
    the commit; after it the connection is in autocommit again and the outcome is batched."""
    from django.db import transaction

    batch_every(settings, 3600)
    webhook = make_webhook()
    with transaction.atomic():
        response = deliver(Client(), webhook)
        assert recorder.names() == []
    assert response.content == b"ok"
    assert recorder.names() == ["webhook_received", "messages:created"]
    assert outcomes._writer.pending() == 1
    assert webhooks.flush_outcomes() == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PROCESSED


def test_a_normal_exit_writes_the_pending_outcomes() -> None:
    """A process that exits (a gunicorn worker restarting) writes its batch at exit: the
    child posts a delivery with a one-hour batch interval and exits at once."""
    webhook = make_webhook()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "DATABASE_URL": database_url_for_workers(),
        "WEBEXTEAMS_EXTRA": '{"WEBHOOK_OUTCOME_BATCH_SECONDS": 3600}',
        "PYTHONPATH": ROOT,
    }
    body = encode(payload(webhook.webex_id, actorId=f"exit-{uuid.uuid4().hex}"))
    script = (
        "import django, sys; django.setup()\n"
        "from django.test import Client\n"
        "from django_webexteams import signals\n"
        "from django_webexteams.webhooks import outcomes\n"
        "from testproject.bot.receivers import ECHO_UID\n"
        "signals.message_created.disconnect(dispatch_uid=ECHO_UID)\n"
        "from tests.webhooks.cases import signed\n"
        "from tests.webhooks.conftest import send\n"
        f"r = send(Client(), signed({receiver_path(webhook.uuid)!r}, {webhook.secret!r}, "
        f"{body!r}))\n"
        "assert r.content == b'ok', r.content\n"
        "assert outcomes._writer.pending() == 1\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PROCESSED, 1)
