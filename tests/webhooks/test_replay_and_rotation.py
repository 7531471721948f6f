"""Issue 16: a replay after prune, the grace period after a secret rotation, and a change
made in another process reaching this process's registration cache through the shared cache.
Each test performs the attack (or the failure) it guards against."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from django_webexteams import webhooks
from django_webexteams.models import PrunedDelivery, Webhook, WebhookDelivery
from django_webexteams.webhooks import lookup as webhook_lookup
from django_webexteams.webhooks import store as webhook_store
from tests.webhooks.cases import encode, payload, signed
from tests.webhooks.conftest import Recorder, make_webhook, receiver_path, send

pytestmark = pytest.mark.django_db


def deliver(client: Client, webhook: Webhook, secret: str, body: bytes, capture: Any) -> Any:
    with capture(execute=True):
        return send(client, signed(receiver_path(webhook.uuid), secret, body))


# --- replay after prune ---------------------------------------------------------------------


def test_a_capture_replayed_after_prune_is_not_dispatched_again(
    webhook: Webhook, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """The attack: capture a signed delivery, wait until prune has deleted its row (30 days),
    post it again. Webex signs no timestamp, so the signature is still valid."""
    capture = django_capture_on_commit_callbacks
    body = encode(payload(webhook.webex_id))
    assert deliver(client, webhook, webhook.secret, body, capture).content == b"ok"
    assert recorder.names().count("messages:created") == 1
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(days=31))
    assert webhooks.prune_deliveries() == 1
    assert not WebhookDelivery.objects.exists()
    assert PrunedDelivery.objects.count() == 1

    response = deliver(client, webhook, webhook.secret, body, capture)
    assert response.status_code == 200 and response.content == b"duplicate"
    assert recorder.names().count("messages:created") == 1
    assert not WebhookDelivery.objects.exists()

    # New events are not affected by the kept keys.
    fresh = encode(payload(webhook.webex_id, actorId="someone-else"))
    assert deliver(client, webhook, webhook.secret, fresh, capture).content == b"ok"
    assert recorder.names().count("messages:created") == 2


def test_prune_keeps_every_key_across_batches(
    webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_store, "_PRUNE_BATCH", 2)
    old = timezone.now() - timedelta(days=40)
    for i in range(5):
        WebhookDelivery.objects.create(
            webhook=webhook, dedupe_key=f"k{i}", resource="messages", event="created",
            payload={},
        )  # fmt: skip
    WebhookDelivery.objects.create(
        webhook=webhook, dedupe_key="young", resource="messages", event="created", payload={}
    )
    WebhookDelivery.objects.exclude(dedupe_key="young").update(received_at=old)
    assert webhooks.prune_deliveries(dry_run=True) == 5
    assert webhooks.prune_deliveries() == 5
    assert sorted(PrunedDelivery.objects.values_list("pk", flat=True)) == [
        f"k{i}" for i in range(5)
    ]
    assert list(WebhookDelivery.objects.values_list("dedupe_key", flat=True)) == ["young"]
    assert webhooks.prune_deliveries() == 0  # idempotent, nothing left to prune


def test_the_orm_path_also_refuses_a_pruned_key(
    webhook: Webhook, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backends without INSERT ... ON CONFLICT take the ORM path: same refusal."""
    monkeypatch.setattr(webhook_store, "_insert_sql", lambda connection: None)
    event = payload(webhook.webex_id)
    PrunedDelivery.objects.create(dedupe_key=webhooks.dedupe_key(event))
    _delivery, created = webhooks.accept_delivery(webhook, event)
    assert not created and not WebhookDelivery.objects.exists()


# --- secret rotation: a grace period for the previous secret, then never again -------------


@pytest.fixture
def bot(fake_webex: Any, settings: Any) -> Any:
    bot = fake_webex.add_bot("Echo Bot")
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "BOT_TOKEN": bot.token,
        "WEBHOOK_BASE_URL": "https://bot.example.com/",
    }
    return bot


def test_in_flight_deliveries_signed_before_a_rotation_are_accepted_for_the_grace_period(
    fake_webex: Any,
    bot: Any,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    capture = django_capture_on_commit_callbacks
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    old = webhook.secret
    webhooks.rotate_secret(webhook)
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.previous_secret == old
    in_flight = encode(payload(webhook.webex_id, actorId="in-flight"))
    assert deliver(client, webhook, old, in_flight, capture).content == b"ok"
    new_one = encode(payload(webhook.webex_id, actorId="new"))
    assert deliver(client, webhook, webhook.secret, new_one, capture).content == b"ok"

    # After the grace period: never again, also not from this process's warm cache.
    Webhook.objects.filter(pk=webhook.pk).update(
        secret_rotated_at=timezone.now() - timedelta(seconds=301)
    )
    webhooks.forget_registrations()
    late = encode(payload(webhook.webex_id, actorId="late"))
    assert deliver(client, webhook, old, late, capture).status_code == 403
    assert not WebhookDelivery.objects.filter(actor_id="late").exists()


def test_the_grace_period_ends_in_a_warm_cache_too(
    webhook: Webhook, client: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "WEBHOOK_SECRET_GRACE_SECONDS": 60,
        "WEBHOOK_CACHE_SECONDS": 3600,
    }
    old = webhook.secret
    Webhook.objects.filter(pk=webhook.pk).update(
        previous_secret=old, secret=old[::-1], secret_rotated_at=timezone.now()
    )
    webhooks.forget_registrations()
    body = encode(payload(webhook.webex_id, actorId="a"))
    assert deliver(client, webhook, old, body, capture).status_code == 200  # cached now
    registration = webhooks.active_registration(webhook.uuid)
    assert registration is not None and registration.previous_secret_in_grace() == old
    with pytest.MonkeyPatch.context() as patch:
        later = time.time() + 61
        patch.setattr(time, "time", lambda: later)
        body = encode(payload(webhook.webex_id, actorId="b"))
        assert deliver(client, webhook, old, body, capture).status_code == 403


def test_no_grace_when_it_is_off(
    webhook: Webhook, client: Client, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_SECRET_GRACE_SECONDS": 0}
    old = webhook.secret
    Webhook.objects.filter(pk=webhook.pk).update(
        previous_secret=old, secret=old[::-1], secret_rotated_at=timezone.now()
    )
    webhooks.forget_registrations()
    body = encode(payload(webhook.webex_id))
    assert deliver(client, webhook, old, body, django_capture_on_commit_callbacks).status_code == (
        403
    )


# --- a change made in another process: invalidated through the shared cache ---------------


@pytest.fixture
def shared_cache(settings: Any, tmp_path: Any) -> Iterator[None]:
    """A cache shared between processes (a file-based one: no server needed)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    from django.core.cache import caches

    caches["default"].clear()
    yield
    webhooks.forget_registrations()


def as_another_process(change: Any) -> None:
    """Run ``change`` (a save through the admin, a command...) the way another process does:
    this process's memory keeps the registrations it cached before."""
    kept = dict(webhook_lookup._REGISTRATIONS)
    change()
    with webhook_lookup._REGISTRATIONS_LOCK:
        webhook_lookup._REGISTRATIONS.clear()
        webhook_lookup._REGISTRATIONS.update(kept)


def test_a_deactivation_saved_elsewhere_applies_at_once_with_a_shared_cache(
    shared_cache: None,
    webhook: Webhook,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    """Before: a validly signed delivery to a webhook deactivated in another process was
    still accepted for WEBHOOK_CACHE_SECONDS."""
    capture = django_capture_on_commit_callbacks
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CACHE_SECONDS": 3600}
    body = encode(payload(webhook.webex_id, actorId="a"))
    assert deliver(client, webhook, webhook.secret, body, capture).status_code == 200
    assert webhook.uuid in webhook_lookup._REGISTRATIONS  # warm

    def deactivate() -> None:
        row = Webhook.objects.get(pk=webhook.pk)
        row.status = Webhook.Status.INACTIVE
        row.save()  # what the admin's change form and the commands do

    as_another_process(deactivate)
    assert webhook.uuid in webhook_lookup._REGISTRATIONS  # still cached here
    body = encode(payload(webhook.webex_id, actorId="b"))
    assert deliver(client, webhook, webhook.secret, body, capture).status_code == 404
    assert not WebhookDelivery.objects.filter(actor_id="b").exists()


def test_a_warm_cache_costs_no_query_with_a_shared_cache(
    shared_cache: None,
    webhook: Webhook,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
    settings: Any,
) -> None:
    capture = django_capture_on_commit_callbacks
    assert deliver(client, webhook, webhook.secret, encode(payload(webhook.webex_id)), capture)
    other = make_webhook()  # a save elsewhere invalidates; the next delivery reloads once
    assert other.pk
    body = encode(payload(webhook.webex_id, actorId="x"))
    with django_assert_num_queries(3):  # the reload, the INSERT, the outcome
        assert deliver(client, webhook, webhook.secret, body, capture).status_code == 200
    body = encode(payload(webhook.webex_id, actorId="y"))
    with django_assert_num_queries(2):  # warm again: the INSERT and the outcome
        assert deliver(client, webhook, webhook.secret, body, capture).status_code == 200


def test_a_cache_outage_never_fails_a_delivery(
    shared_cache: None,
    webhook: Webhook,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.core.cache import caches

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    monkeypatch.setattr(caches["default"], "get", down)
    monkeypatch.setattr(caches["default"], "set", down)
    row = Webhook.objects.get(pk=webhook.pk)
    row.name = "renamed"
    row.save()  # publishing fails: logged, not raised
    body = encode(payload(webhook.webex_id))
    response = deliver(client, webhook, webhook.secret, body, django_capture_on_commit_callbacks)
    assert response.status_code == 200
