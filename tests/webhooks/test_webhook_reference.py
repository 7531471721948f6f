"""A delivery's webhook reference has no database foreign key (models.py says why): the
INSERT checks that the webhook exists instead, ingest never waits on a lock of the webhook's
row, deleting a webhook still deletes its deliveries, and a delivery left without its
webhook (stored while the webhook was being deleted) is not dispatched."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from django_webexteams.models import Webhook, WebhookDelivery
from django_webexteams.webhooks import accept_delivery, process_delivery
from django_webexteams.webhooks.store import WebhookGone
from tests.webhooks.cases import encode, payload, signed
from tests.webhooks.conftest import Recorder, make_webhook, receiver_path, send


def _deliver(client: Client, webhook: Webhook, **overrides: Any) -> Any:
    body = encode(payload(webhook.webex_id, **overrides))
    return send(client, signed(receiver_path(webhook.uuid), webhook.secret, body))


@pytest.mark.django_db
def test_storing_for_a_deleted_webhook_raises_and_stores_nothing() -> None:
    webhook = make_webhook()
    Webhook.objects.filter(pk=webhook.pk).delete()  # the caller's instance outlives the row
    with pytest.raises(WebhookGone):
        accept_delivery(webhook, payload(webhook.webex_id))
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_is_still_a_duplicate_not_a_gone_webhook() -> None:
    webhook = make_webhook()
    first, created = accept_delivery(webhook, payload(webhook.webex_id))
    again, created_again = accept_delivery(webhook, payload(webhook.webex_id))
    assert created and not created_again and again.pk == first.pk


@pytest.mark.django_db
def test_deleting_a_webhook_deletes_its_deliveries() -> None:
    webhook, other = make_webhook(), make_webhook()
    accept_delivery(webhook, payload(webhook.webex_id))
    accept_delivery(other, payload(other.webex_id, actorId="someone-else"))
    webhook.delete()
    assert list(WebhookDelivery.objects.values_list("webhook_id", flat=True)) == [other.pk]


@pytest.mark.django_db
def test_a_delivery_whose_webhook_vanished_is_ignored_not_dispatched(recorder: Recorder) -> None:
    """What a delete racing an insert leaves: the row, its webhook gone. Dispatching it with
    no webhook would answer as the wrong identity; it is recorded as ignored."""
    webhook = make_webhook()
    with connection.cursor() as cursor:  # keep the row that a concurrent insert would leave
        delivery, _ = accept_delivery(webhook, payload(webhook.webex_id))
        cursor.execute(f"DELETE FROM {Webhook._meta.db_table} WHERE id = %s", [webhook.pk])
    recorder.calls.clear()
    result = process_delivery(delivery.pk, force=True)
    assert result is not None
    assert result.status == WebhookDelivery.Status.IGNORED
    assert "webhook was deleted" in result.error
    assert recorder.calls == []
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert stored.status == WebhookDelivery.Status.IGNORED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ingest_does_not_wait_for_a_lock_on_the_webhook_row() -> None:
    """With a foreign key, every INSERT took FOR KEY SHARE on the webhook's row: a
    transaction holding that row FOR UPDATE (a delete in progress, an admin action) stalled
    every delivery of the webhook. The lock_timeout turns such a wait into an error."""
    webhook = make_webhook()
    client = Client()
    assert _deliver(client, webhook, actorId="warm-up").status_code == 200
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        other = connections.create_connection("default")
        try:
            other.set_autocommit(False)
            with other.cursor() as cursor:
                cursor.execute(
                    f"SELECT id FROM {Webhook._meta.db_table} WHERE id = %s FOR UPDATE",
                    [webhook.pk],
                )
                locked.set()
                release.wait(30)
            other.rollback()
        finally:
            other.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        try:
            response = _deliver(client, webhook, actorId="while-locked")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        assert response.status_code == 200, response.content
        assert WebhookDelivery.objects.filter(actor_id="while-locked").exists()
    finally:
        release.set()
        holder.join(30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_dispatch_counts_its_attempt_outside_a_transaction(recorder: Recorder) -> None:
    """The Celery task's path (autocommit): the attempt is counted by the one-statement
    UPDATE that does not wait for its WAL flush, and the outcome after it is written."""
    webhook = make_webhook()
    delivery, _ = accept_delivery(webhook, payload(webhook.webex_id))
    assert not connection.in_atomic_block
    before = WebhookDelivery.objects.get(pk=delivery.pk).attempts  # sync mode dispatched it
    for expected in (before + 1, before + 2):
        done = process_delivery(delivery.pk, force=True)
        assert done is not None and done.attempts == expected
        stored = WebhookDelivery.objects.get(pk=delivery.pk)
        assert (stored.attempts, stored.status) == (expected, WebhookDelivery.Status.PROCESSED)
    with connection.cursor() as cursor:  # SET LOCAL did not leak into the session
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert recorder.names().count("messages:created") == before + 2
