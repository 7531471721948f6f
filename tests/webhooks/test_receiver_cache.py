"""The receiver's lean path: the per-process registration cache, the statements one delivery
costs, the non-durable outcome write, and what reprocessing "received" rows leaves alone.
docs/webhooks.md, "Performance and its trade-offs"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from django_webexteams import webhooks
from django_webexteams.client import generate_secret
from django_webexteams.models import Webhook, WebhookDelivery
from django_webexteams.webhooks import lookup
from tests.webhooks.cases import encode, payload, signed
from tests.webhooks.conftest import Recorder, make_webhook, receiver_path, send

pytestmark = pytest.mark.django_db


def post(client: Client, webhook: Webhook, secret: str, capture: Any, **overrides: Any) -> Any:
    body = encode(payload(webhook.webex_id, **overrides))
    with capture(execute=True):
        return send(client, signed(receiver_path(webhook.uuid), secret, body))


def test_a_warm_delivery_costs_one_insert_and_one_update(
    webhook: Webhook,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    """No lookup of the webhook, no dedupe read, no re-read of the row, no attempts UPDATE:
    the INSERT (the durable commit) and the outcome."""
    assert post(client, webhook, webhook.secret, django_capture_on_commit_callbacks).content == (
        b"ok"
    )
    with django_assert_num_queries(2) as queries:
        response = post(
            client, webhook, webhook.secret, django_capture_on_commit_callbacks, actorId="bob"
        )
    assert response.content == b"ok"
    assert queries.captured_queries[0]["sql"].startswith("INSERT")
    assert queries.captured_queries[1]["sql"].lstrip().startswith("UPDATE")
    assert recorder.names().count("webhook_received") == 2
    delivery = WebhookDelivery.objects.get(actor_id="bob")
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PROCESSED, 1)


def test_celery_mode_warm_delivery_is_one_insert(
    webhook: Webhook,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
    settings: Any,
) -> None:
    from django_webexteams import tasks

    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "WEBHOOK_DISPATCH": "celery",
        "WEBHOOK_CELERY_FAST_PUBLISH": False,  # counted at apply_async
    }
    with mock.patch.object(tasks.process_delivery, "apply_async") as apply_async:
        post(client, webhook, webhook.secret, django_capture_on_commit_callbacks)
        with django_assert_num_queries(1):
            post(client, webhook, webhook.secret, django_capture_on_commit_callbacks, actorId="b")
    assert apply_async.call_count == 2
    delivery = WebhookDelivery.objects.get(actor_id="b")
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.RECEIVED, 0)


class HintRecorder:
    """A database router that sends everything to "default" and records the instance hint
    each delivery write was routed by."""

    hints: list[Any] = []

    def db_for_write(self, model: Any, **hints: Any) -> str:
        if model is WebhookDelivery:
            self.hints.append(hints.get("instance"))
        return "default"


def test_celery_mode_stores_what_accept_delivery_stores_and_routers_get_the_webhook(
    webhook: Webhook,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    """The receiver's Celery path builds no model instances (store.accept_registered), yet
    the row is the one accept_delivery writes, a redelivery is still a duplicate, and with
    DATABASE_ROUTERS the router is still asked with the webhook as its instance hint."""
    from django_webexteams import tasks

    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "WEBHOOK_DISPATCH": "celery",
        "WEBHOOK_CELERY_FAST_PUBLISH": False,
    }
    fields = ["webhook_id", "credential_id", "transport", "resource", "event", "data_id",
              "actor_id", "payload", "status", "error", "traceback", "attempts"]  # fmt: skip
    capture = django_capture_on_commit_callbacks
    with mock.patch.object(tasks.process_delivery, "apply_async") as apply_async:
        assert post(client, webhook, webhook.secret, capture, actorId="lean").content == b"ok"
        assert post(client, webhook, webhook.secret, capture, actorId="lean").content == (
            b"duplicate"
        )
        lean = WebhookDelivery.objects.values(*fields).get(actor_id="lean")
        HintRecorder.hints = []
        settings.DATABASE_ROUTERS = [f"{__name__}.HintRecorder"]
        assert post(client, webhook, webhook.secret, capture, actorId="routed").content == b"ok"
    routed = WebhookDelivery.objects.values(*fields).get(actor_id="routed")
    assert [type(h) for h in HintRecorder.hints] == [Webhook]
    assert HintRecorder.hints[0].pk == webhook.pk
    lean_id = WebhookDelivery.objects.get(actor_id="lean").pk
    routed_id = WebhookDelivery.objects.get(actor_id="routed").pk
    assert [c.kwargs["args"] for c in apply_async.call_args_list] == [(lean_id,), (routed_id,)]
    for row in (lean, routed):
        row.pop("actor_id")
        row["payload"].pop("actorId")
    assert lean == routed
    assert lean["status"] == WebhookDelivery.Status.RECEIVED and lean["attempts"] == 0


def test_a_secret_rotated_in_another_process_works_at_once(
    webhook: Webhook, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """The cache holds the old secret; a signature that does not match it makes the receiver
    re-read the row before rejecting, so Webex's first delivery with the new secret passes
    and the old secret stops working."""
    old = webhook.secret
    capture = django_capture_on_commit_callbacks
    assert post(client, webhook, old, capture).status_code == 200  # cached now
    new = generate_secret()
    # What another process's rotate_secret() does, without this process's save signal.
    Webhook.objects.filter(pk=webhook.pk).update(secret=new)
    assert post(client, webhook, new, capture, actorId="after").status_code == 200
    assert post(client, webhook, old, capture, actorId="stale").status_code == 403
    assert not WebhookDelivery.objects.filter(actor_id="stale").exists()


def test_a_change_saved_in_this_process_applies_at_once(
    webhook: Webhook, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    assert post(client, webhook, webhook.secret, capture).status_code == 200
    webhook.status = Webhook.Status.INACTIVE
    webhook.save(update_fields=["status"])
    assert post(client, webhook, webhook.secret, capture, actorId="x").status_code == 404


def test_a_deactivation_elsewhere_is_seen_within_the_cache_time(
    webhook: Webhook, client: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    """The documented staleness: another process's deactivation is not seen while this
    process's entry is younger than WEBHOOK_CACHE_SECONDS (the delivery is still verified
    and stored); with the cache off (or once the entry expires), 404."""
    capture = django_capture_on_commit_callbacks
    assert post(client, webhook, webhook.secret, capture).status_code == 200
    Webhook.objects.filter(pk=webhook.pk).update(status=Webhook.Status.INACTIVE)
    assert post(client, webhook, webhook.secret, capture, actorId="a").status_code == 200
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CACHE_SECONDS": 0}
    assert post(client, webhook, webhook.secret, capture, actorId="b").status_code == 404


def test_the_cached_registration_never_shows_its_secret(webhook: Webhook) -> None:
    registration = webhooks.active_registration(webhook.uuid)
    assert registration is not None
    assert registration.secret == webhook.secret
    assert webhook.secret not in repr(registration)
    # Receivers get a fresh instance per request, never the cached object.
    assert registration.webhook() is not registration.webhook()
    assert registration.webhook().pk == webhook.pk


def test_unknown_uuids_do_not_fill_the_cache(client: Client) -> None:
    import uuid

    webhooks.forget_registrations()
    for _ in range(3):
        response = client.post(receiver_path(uuid.uuid4()), b"{}", content_type="text/plain")
        assert response.status_code == 404
    assert lookup._REGISTRATIONS == {}


def test_reprocessing_received_rows_leaves_young_ones_alone(
    webhook: Webhook, recorder: Recorder, django_capture_on_commit_callbacks: Any
) -> None:
    """A "received" row may be in the middle of its dispatch: the command must not run it
    a second time. Old enough rows (a lost outcome, a broker that was down) are run."""
    young = WebhookDelivery.objects.create(
        webhook=webhook, dedupe_key="k-young", resource="messages", event="created",
        payload=payload(webhook.webex_id),
    )  # fmt: skip
    old = WebhookDelivery.objects.create(
        webhook=webhook, dedupe_key="k-old", resource="messages", event="created",
        payload=payload(webhook.webex_id, actorId="old"),
    )  # fmt: skip
    WebhookDelivery.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(minutes=10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        call_command("webexteams_deliveries", "reprocess", "--sync", "--status", "received")
    young.refresh_from_db()
    old.refresh_from_db()
    assert young.status == WebhookDelivery.Status.RECEIVED
    assert old.status == WebhookDelivery.Status.PROCESSED
    assert recorder.names().count("webhook_received") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_outcome_write_does_not_leak_its_setting(
    recorder: Recorder, settings: Any
) -> None:
    """Autocommit, as in production, with outcome batching off: the INSERT commits by
    itself, the outcome is written in the request with synchronous_commit off for that one
    statement only (SET LOCAL), and the session keeps synchronous_commit on for whatever it
    writes next."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_OUTCOME_BATCH_SECONDS": 0}
    webhook = make_webhook()
    client = Client()
    body = encode(payload(webhook.webex_id))
    response = send(client, signed(receiver_path(webhook.uuid), webhook.secret, body))
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PROCESSED, 1)
    assert recorder.names() == ["webhook_received", "messages:created"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    # A redelivery is stored once and not dispatched again.
    assert send(client, signed(receiver_path(webhook.uuid), webhook.secret, body)).content == (
        b"duplicate"
    )
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_webhook_deleted_by_another_process_answers_404_not_500() -> None:
    """The cached registration outlives its row (deleted elsewhere, no signal here): the
    INSERT stores nothing (it checks that the webhook exists), and the answer is 404, never
    500."""
    webhook = make_webhook()
    client = Client()
    url = receiver_path(webhook.uuid)
    body = encode(payload(webhook.webex_id))
    assert send(client, signed(url, webhook.secret, body)).status_code == 200
    with connection.cursor() as cursor:  # what another process's delete does, unseen here
        cursor.execute("DELETE FROM webexteams_webhookdelivery WHERE webhook_id = %s", [webhook.pk])
        cursor.execute("DELETE FROM webexteams_webhook WHERE id = %s", [webhook.pk])
    assert webhooks.active_registration(webhook.uuid) is not None  # still cached
    again = encode(payload(webhook.webex_id, actorId="later"))
    assert send(client, signed(url, webhook.secret, again)).status_code == 404
    assert webhooks.active_registration(webhook.uuid) is None
