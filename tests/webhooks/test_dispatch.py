"""Dispatch: signals after commit (sync), the Celery hand-off, failing receivers, own events,
reprocessing."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from django_webexteams import signals, webhooks
from django_webexteams.clients import identity_cache_key
from django_webexteams.events import EventNotFetchableError, WebhookEvent
from django_webexteams.models import Credential, Webhook, WebhookDelivery
from django_webexteams.webhooks import dispatch as webhook_dispatch
from tests.webhooks.cases import Target, encode, payload, signed
from tests.webhooks.conftest import Recorder, make_webhook, send

pytestmark = pytest.mark.django_db

ALICE = "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbGljZQ"


def deliver(client: Client, target: Target, capture: Any, **overrides: Any) -> Any:
    body = encode(payload(target.webex_id, **overrides))
    with capture(execute=True):
        return send(client, signed(target.url, target.secret, body))


def test_signals_wait_for_the_commit(webhook: Webhook, recorder: Recorder) -> None:
    """sync mode: nothing is dispatched while the delivery's transaction is open, and a
    rolled-back delivery is never dispatched."""
    with transaction.atomic():
        delivery, created = webhooks.accept_delivery(webhook, payload(webhook.webex_id))
        assert created
        assert recorder.calls == []
        transaction.set_rollback(True)
    assert recorder.calls == []
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()


def test_event_carries_the_payload_fields(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    deliver(client, target, django_capture_on_commit_callbacks)
    event = recorder.calls[0][1]["event"]
    assert isinstance(event, WebhookEvent)
    assert (event.resource, event.event) == ("messages", "created")
    assert event.actor_id == ALICE
    assert event.data_id == "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvbTE"
    assert event.room_id == "Y2lzY29zcGFyazovL3VzL1JPT00vcjE"
    assert event.created_by == "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q"
    assert event.org_id and event.app_id and event.owned_by == "creator"
    assert event.status == "active"
    assert event.created is not None and event.created.year == 2026
    assert event.webhook_id == target.webex_id
    assert event.raw["data"]["personEmail"] == "alice@example.com"


@pytest.mark.parametrize(
    ("resource", "event", "expected"),
    [
        ("memberships", "created", "memberships:created"),
        ("memberships", "updated", "memberships:updated"),
        ("memberships", "deleted", "memberships:deleted"),
        ("rooms", "created", "rooms:created"),
        ("rooms", "updated", "rooms:updated"),
        ("messages", "deleted", "messages:deleted"),
        ("attachmentActions", "created", "attachmentActions:created"),
    ],
)
def test_each_event_gets_its_specific_signal(
    target: Target,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    resource: str,
    event: str,
    expected: str,
) -> None:
    deliver(client, target, django_capture_on_commit_callbacks, resource=resource, event=event)
    assert recorder.names() == ["webhook_received", expected]


def test_an_event_without_a_specific_signal_gets_webhook_received_only(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    deliver(client, target, django_capture_on_commit_callbacks, resource="meetings", event="ended")
    assert recorder.names() == ["webhook_received"]
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PROCESSED


def test_a_failing_receiver_marks_the_delivery_failed_and_still_answers_200(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("project bug")

    signals.webhook_received.connect(broken)
    try:
        response = deliver(client, target, django_capture_on_commit_callbacks)
    finally:
        signals.webhook_received.disconnect(broken)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "broken: RuntimeError: project bug" in delivery.error
    assert "Traceback" in delivery.traceback and "project bug" in delivery.traceback
    # The other receivers still ran, the specific signal too.
    assert recorder.names() == ["webhook_received", "messages:created"]


def test_failed_delivery_can_be_reprocessed(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    state = {"broken": True}

    def flaky(sender: Any, **kwargs: Any) -> None:
        if state["broken"]:
            raise ValueError("not yet")

    signals.message_created.connect(flaky)
    try:
        deliver(client, target, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == WebhookDelivery.Status.FAILED
        state["broken"] = False
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.reprocess_delivery(delivery, sync=True)
    finally:
        signals.message_created.disconnect(flaky)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert (delivery.error, delivery.traceback) == ("", "")
    assert delivery.attempts == 2
    assert recorder.names().count("messages:created") == 2


def test_processed_delivery_is_not_processed_again_unless_forced(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    deliver(client, target, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    webhooks.process_delivery(delivery.pk)
    assert len(recorder.calls) == 2
    webhooks.process_delivery(delivery.pk, force=True)
    assert len(recorder.calls) == 4
    assert webhooks.process_delivery(999_999) is None


def test_reprocess_command_runs_failed_deliveries(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    signals.message_created.connect(broken)
    deliver(client, target, django_capture_on_commit_callbacks)
    signals.message_created.disconnect(broken)
    deliver(client, target, django_capture_on_commit_callbacks, actorId="another")
    assert WebhookDelivery.objects.filter(status="failed").count() == 1
    recorder.calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("webexteams_deliveries", "reprocess", "--sync")
    assert WebhookDelivery.objects.filter(status="processed").count() == 2
    assert recorder.names() == ["webhook_received", "messages:created"]


# --- own events -------------------------------------------------------------------------------


def test_events_of_the_credentials_own_person_are_ignored(
    recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    credential = Credential.objects.create(
        kind="bot", name="bot", webex_person_id=ALICE, access_token="token"
    )
    webhook = make_webhook(credential=credential)
    body = encode(payload(webhook.webex_id))
    path = f"/webex/webhooks/{webhook.uuid}/"
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, signed(path, webhook.secret, body)).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.IGNORED
    assert recorder.calls == []

    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH_OWN_EVENTS": True}
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.reprocess_delivery(delivery, sync=True)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert recorder.names()[:2] == ["webhook_received", "messages:created"]


def test_bot_token_person_id_comes_from_the_cache(
    target: Target,
    webhook: Webhook,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "bot-token"}
    caches["default"].set(identity_cache_key(None), ALICE)
    try:
        deliver(client, target, django_capture_on_commit_callbacks, createdBy="someone")
    finally:
        caches["default"].delete(identity_cache_key(None))
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.IGNORED
    assert recorder.calls == []


def test_without_people_me_the_payloads_created_by_decides(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:  # fmt: skip
    """people/me unreachable (the API points at a closed port here): the webhook's creator,
    which is the bot for webhooks we registered, stands in."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "bot-token"}
    deliver(client, target, django_capture_on_commit_callbacks, createdBy=ALICE)
    deliver(client, target, django_capture_on_commit_callbacks, actorId="carol")
    statuses = dict(WebhookDelivery.objects.values_list("actor_id", "status"))
    assert statuses == {ALICE: "ignored", "carol": "processed"}
    assert recorder.names() == ["webhook_received", "messages:created"]


# --- celery mode ------------------------------------------------------------------------------


@pytest.fixture
def celery_mode(settings: Any) -> None:
    # The apply_async path (the fast publish, a batched LPUSH of a captured message, has
    # its own tests against a real Redis in test_publish.py).
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "WEBHOOK_DISPATCH": "celery",
        "WEBHOOK_CELERY_FAST_PUBLISH": False,
    }


@pytest.mark.usefixtures("celery_mode")
def test_celery_mode_enqueues_the_pk_on_commit_and_answers_at_once(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from django_webexteams import tasks

    with mock.patch.object(tasks.process_delivery, "apply_async") as apply_async:
        response = deliver(client, target, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert response.status_code == 200
    apply_async.assert_called_once_with(args=(delivery.pk,))
    assert delivery.status == WebhookDelivery.Status.RECEIVED
    assert recorder.calls == []
    # What the worker runs:
    assert tasks.process_delivery.run(delivery.pk) == "processed"
    assert recorder.names() == ["webhook_received", "messages:created"]


@pytest.mark.usefixtures("celery_mode")
def test_celery_queue_setting_is_honoured(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    from django_webexteams import tasks

    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "CELERY_QUEUE": "webex"}
    with mock.patch.object(tasks.process_delivery, "apply_async") as apply_async:
        deliver(client, target, django_capture_on_commit_callbacks)
    apply_async.assert_called_once_with(args=(WebhookDelivery.objects.get().pk,), queue="webex")


@pytest.mark.usefixtures("celery_mode")
def test_broker_down_still_answers_200_and_keeps_the_delivery(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from django_webexteams import tasks

    with mock.patch.object(
        tasks.process_delivery, "apply_async", side_effect=ConnectionError("broker down")
    ):
        response = deliver(client, target, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.RECEIVED


def test_dispatch_mode_is_validated(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH": "async"}
    with pytest.raises(ImproperlyConfigured, match="sync"):
        webhooks.dispatch_mode()


# --- events -----------------------------------------------------------------------------------


def test_deleted_events_cannot_be_fetched() -> None:
    event = WebhookEvent.from_payload(payload("w", event="deleted"))
    with pytest.raises(EventNotFetchableError, match="deleted"):
        event.fetch()
    other = WebhookEvent.from_payload(payload("w", resource="meetings", event="started"))
    with pytest.raises(EventNotFetchableError, match="meetings"):
        other.fetch()


@pytest.mark.parametrize("created", ["2026-13-45T99:00:00Z", "yesterday", 42, None])
def test_odd_timestamps_do_not_stop_the_event(created: Any) -> None:
    event = WebhookEvent.from_payload(payload("w", created=created))
    assert event.created is None
    assert event.resource == "messages"


def test_an_internal_error_marks_the_delivery_failed_not_stuck(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with mock.patch.object(webhook_dispatch, "_is_own_event", side_effect=KeyError("surprise")):
        assert deliver(client, target, django_capture_on_commit_callbacks).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert "KeyError" in delivery.error and "surprise" in delivery.traceback
