"""Registration and management service functions and commands, against the fake Webex."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from django_webexteams import signals, webhooks
from django_webexteams.client import ApiError
from django_webexteams.clients import identity_cache_key
from django_webexteams.models import Credential, Webhook, WebhookDelivery
from tests.webhooks.conftest import make_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(fake_webex: Any, settings: Any) -> Any:
    bot = fake_webex.add_bot("Echo Bot")
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "BOT_TOKEN": bot.token,
        "WEBHOOK_BASE_URL": "https://bot.example.com/",
    }
    return bot


def remote(fake: Any, webex_id: str) -> Any:
    with fake.state.lock:
        return fake.state.webhooks.get(webex_id)


def test_register_creates_the_webhook_at_webex_with_a_strong_secret(
    fake_webex: Any, bot: Any
) -> None:
    webhook = webhooks.register_webhook(
        name="Messages", resource="messages", event="created", filter="roomType=group"
    )
    webhook.refresh_from_db()
    path = reverse("webexteams:webhook", kwargs={"uuid": webhook.uuid})
    assert webhook.target_url == f"https://bot.example.com{path}"
    assert webhook.status == Webhook.Status.ACTIVE
    assert webhook.credential is None
    assert len(webhook.secret) >= 43  # 32 random bytes, urlsafe base64
    at_webex = remote(fake_webex, str(webhook.webex_id))
    assert at_webex.secret == webhook.secret
    assert at_webex.target_url == webhook.target_url
    assert (at_webex.resource, at_webex.event, at_webex.filter) == (
        "messages", "created", "roomType=group")  # fmt: skip
    assert at_webex.created_by == bot.id
    # Two registrations never share a secret.
    other = webhooks.register_webhook(name="Rooms", resource="rooms", event="all")
    assert other.secret != webhook.secret
    assert other.uuid != webhook.uuid


def test_register_with_a_stored_credential(fake_webex: Any, settings: Any) -> None:
    person = fake_webex.add_person("owner@example.com", "Owner")
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_BASE_URL": "https://x.example.com"}
    credential = Credential.objects.create(
        kind="user", webex_person_id=person.id, access_token=person.token
    )
    webhook = webhooks.register_webhook(
        name="Mine", resource="messages", event="all", credential=credential
    )
    assert webhook.credential == credential
    assert remote(fake_webex, str(webhook.webex_id)).created_by == person.id


def test_register_without_base_url_is_a_clear_configuration_error(bot: Any, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_BASE_URL": None}
    with pytest.raises(ImproperlyConfigured, match="WEBHOOK_BASE_URL"):
        webhooks.register_webhook(name="x", resource="messages", event="created")
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_BASE_URL": "bot.example.com"}
    with pytest.raises(ImproperlyConfigured, match="absolute"):
        webhooks.register_webhook(name="x", resource="messages", event="created")
    assert not Webhook.objects.exists()


def test_register_refused_by_webex_stores_nothing(fake_webex: Any, bot: Any) -> None:
    fake_webex.fail_next(400, path="/webhooks", method="POST")
    with pytest.raises(ApiError):
        webhooks.register_webhook(name="x", resource="messages", event="created")
    assert not Webhook.objects.exists()


def test_delete_removes_it_at_webex_and_locally(fake_webex: Any, bot: Any) -> None:
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    webex_id = str(webhook.webex_id)
    assert webhooks.delete_webhook(webhook) is True
    assert remote(fake_webex, webex_id) is None
    assert not Webhook.objects.exists()


def test_delete_keep_row_marks_it_missing(fake_webex: Any, bot: Any) -> None:
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    WebhookDelivery.objects.create(webhook=webhook, dedupe_key="k", resource="m", event="c")
    with fake_webex.state.lock:
        del fake_webex.state.webhooks[str(webhook.webex_id)]
    assert webhooks.delete_webhook(webhook, keep_row=True) is False  # already gone: fine
    webhook.refresh_from_db()
    assert webhook.status == Webhook.Status.MISSING
    assert webhook.deliveries.count() == 1


def test_rotate_secret_stores_the_new_secret_only_after_webex_accepts(
    fake_webex: Any, bot: Any
) -> None:
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    old = webhook.secret
    fake_webex.fail_next(503, times=10, path="/webhooks", method="PUT")
    with pytest.raises(ApiError):
        webhooks.rotate_secret(webhook)
    webhook.refresh_from_db()
    assert webhook.secret == old
    assert remote(fake_webex, str(webhook.webex_id)).secret == old

    fake_webex.reset_faults()
    webhooks.rotate_secret(webhook)
    webhook.refresh_from_db()
    assert webhook.secret != old
    assert remote(fake_webex, str(webhook.webex_id)).secret == webhook.secret


def disable_at_webex(fake: Any, webhook: Webhook) -> None:
    with fake.state.lock:
        fake.state.webhooks[str(webhook.webex_id)].status = "inactive"


def test_reactivate_keeps_the_secret(fake_webex: Any, bot: Any) -> None:
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    disable_at_webex(fake_webex, webhook)
    webhooks.reactivate_webhook(webhook)
    at_webex = remote(fake_webex, str(webhook.webex_id))
    assert at_webex.status == "active"
    assert at_webex.secret == webhook.secret
    webhook.refresh_from_db()
    assert webhook.status == Webhook.Status.ACTIVE


@pytest.fixture
def disabled_calls() -> Any:
    calls: list[dict[str, Any]] = []

    def handler(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    signals.webhook_disabled.connect(handler)
    yield calls
    signals.webhook_disabled.disconnect(handler)


def test_check_reports_a_disabled_webhook(fake_webex: Any, bot: Any, disabled_calls: Any) -> None:
    healthy = webhooks.register_webhook(name="ok", resource="rooms", event="all")
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    disable_at_webex(fake_webex, webhook)
    result = webhooks.check_webhooks()
    assert result.disabled == [webhook] and result.reactivated == []
    assert result.active == [healthy]
    webhook.refresh_from_db()
    assert webhook.status == Webhook.Status.INACTIVE
    assert webhook.last_checked_at is not None
    assert disabled_calls == [{"signal": signals.webhook_disabled, "webhook": webhook,
                               "reactivated": False}]  # fmt: skip
    assert remote(fake_webex, str(webhook.webex_id)).status == "inactive"


def test_check_reactivates_when_allowed(
    fake_webex: Any, bot: Any, disabled_calls: Any, settings: Any
) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_AUTO_REACTIVATE": True}
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    disable_at_webex(fake_webex, webhook)
    from django_webexteams import tasks

    counts = tasks.check_webhooks.run()
    assert counts == {"active": 0, "disabled": 1, "reactivated": 1, "missing": 0, "errors": 0}
    assert remote(fake_webex, str(webhook.webex_id)).status == "active"
    webhook.refresh_from_db()
    assert webhook.status == Webhook.Status.ACTIVE
    assert [c["reactivated"] for c in disabled_calls] == [True]


def test_check_marks_missing_and_survives_errors(fake_webex: Any, bot: Any) -> None:
    gone = webhooks.register_webhook(name="gone", resource="messages", event="created")
    broken = make_webhook(credential=Credential.objects.create(access_token="wrong-token"))
    with fake_webex.state.lock:
        del fake_webex.state.webhooks[str(gone.webex_id)]
    result = webhooks.check_webhooks()
    assert result.missing == [gone]
    assert result.errors == [broken]
    gone.refresh_from_db()
    assert gone.status == Webhook.Status.MISSING


def test_sync_marks_rows_webex_no_longer_has(fake_webex: Any, bot: Any) -> None:
    kept = webhooks.register_webhook(name="kept", resource="messages", event="created")
    gone = webhooks.register_webhook(name="gone", resource="rooms", event="all")
    stranger = fake_webex.create_webhook(bot, "elsewhere", "https://other.example.com/hook")
    with fake_webex.state.lock:
        del fake_webex.state.webhooks[str(gone.webex_id)]
        fake_webex.state.webhooks[str(kept.webex_id)].name = "renamed at Webex"
    result = webhooks.sync_webhooks()
    assert result.missing == [gone]
    assert result.updated == [kept]
    assert [w.id for w in result.unknown] == [stranger.id]
    kept.refresh_from_db()
    gone.refresh_from_db()
    assert kept.name == "renamed at Webex"
    assert (kept.status, gone.status) == (Webhook.Status.ACTIVE, Webhook.Status.MISSING)


# --- commands ---------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_webhooks_command_lifecycle(fake_webex: Any, bot: Any) -> None:
    out = run("webexteams_webhooks", "register", "--name", "cmd", "--resource", "messages",
              "--event", "created")  # fmt: skip
    webhook = Webhook.objects.get()
    assert "Registered" in out and str(webhook.uuid) in out
    assert webhook.secret not in out

    listing = run("webexteams_webhooks", "list")
    assert str(webhook.uuid) in listing and webhook.secret not in listing
    assert str(webhook.webex_id) in run("webexteams_webhooks", "list", "--remote")

    old = webhook.secret
    run("webexteams_webhooks", "rotate-secret", str(webhook.uuid))
    webhook.refresh_from_db()
    assert webhook.secret != old

    disable_at_webex(fake_webex, webhook)
    assert "1 disabled" in run("webexteams_webhooks", "check")
    run("webexteams_webhooks", "reactivate", str(webhook.pk))
    assert remote(fake_webex, str(webhook.webex_id)).status == "active"
    assert "1 in sync" in run("webexteams_webhooks", "sync")

    run("webexteams_webhooks", "delete", str(webhook.webex_id))
    assert not Webhook.objects.exists()
    with pytest.raises(CommandError, match="No webhook"):
        run("webexteams_webhooks", "delete", "nope")


def test_webhooks_command_reports_webex_errors(fake_webex: Any, bot: Any) -> None:
    fake_webex.fail_next(400, path="/webhooks", method="POST", message="bad filter")
    with pytest.raises(CommandError, match="bad filter"):
        run("webexteams_webhooks", "register", "--name", "x", "--resource", "messages",
            "--event", "created", "--filter", "nonsense")  # fmt: skip


def test_prune_deletes_old_deliveries_only(settings: Any) -> None:
    webhook = make_webhook()
    old = WebhookDelivery.objects.create(webhook=webhook, dedupe_key="old", resource="m", event="c")
    new = WebhookDelivery.objects.create(webhook=webhook, dedupe_key="new", resource="m", event="c")
    WebhookDelivery.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    assert "Would delete 1" in run("webexteams_deliveries", "prune", "--dry-run")
    assert WebhookDelivery.objects.count() == 2
    assert "Deleted 0" in run("webexteams_deliveries", "prune", "--days", "40")
    assert "Deleted 1" in run("webexteams_deliveries", "prune")
    assert list(WebhookDelivery.objects.all()) == [new]
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "DELIVERY_RETENTION_DAYS": 0}
    with pytest.raises(CommandError, match="positive"):
        run("webexteams_deliveries", "prune")


def test_registration_learns_the_bots_person_id(fake_webex: Any, bot: Any) -> None:
    from django.core.cache import caches

    webhooks.register_webhook(name="x", resource="messages", event="created")
    assert caches["default"].get(identity_cache_key(None)) == bot.id


def test_webex_disabling_after_failed_deliveries_is_noticed(
    fake_webex: Any, bot: Any, settings: Any, disabled_calls: Any
) -> None:
    """Realistic: deliveries to an unreachable target fail until the fake disables the
    webhook (as Webex does after 100 failures in 5 minutes; 3 here)."""
    fake_webex.webhook_failure_limit = 3
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_BASE_URL": "http://127.0.0.1:9"}
    webhook = webhooks.register_webhook(name="x", resource="messages", event="created")
    alice = fake_webex.add_person("alice@example.com", "Alice")
    room = fake_webex.create_room(alice, "Room", members=[bot])
    for n in range(3):
        fake_webex.post_message(alice, room.id, text=f"message {n}", mentions=[bot])
    fake_webex.wait_for_deliveries(3)
    assert fake_webex.wait_for_idle()
    assert fake_webex.webhook_status(str(webhook.webex_id)) == "inactive"

    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_AUTO_REACTIVATE": True}
    result = webhooks.check_webhooks()
    assert result.reactivated == [webhook]
    assert disabled_calls[0]["reactivated"] is True
    assert fake_webex.webhook_status(str(webhook.webex_id)) == "active"


def test_a_row_that_cannot_be_saved_leaves_no_webhook_at_webex(fake_webex: Any, bot: Any) -> None:
    from unittest import mock

    from django.db import DatabaseError

    with mock.patch.object(Webhook, "save", side_effect=DatabaseError("disk full")):
        with pytest.raises(DatabaseError):
            webhooks.register_webhook(name="x", resource="messages", event="created")
    with fake_webex.state.lock:
        assert fake_webex.state.webhooks == {}


@pytest.mark.parametrize("action", ["reactivate", "rotate-secret"])
def test_a_webhook_gone_at_webex_gets_one_line_with_the_command_to_register_it_again(
    fake_webex: Any, bot: Any, action: str
) -> None:
    """Issue 15: reactivate on a webhook Webex deleted printed a raw 'Webex refused: 404'."""
    webhook = webhooks.register_webhook(
        name="Bot messages", resource="messages", event="created", filter="roomId=abc"
    )
    with fake_webex.state.lock:
        del fake_webex.state.webhooks[str(webhook.webex_id)]
    with pytest.raises(CommandError) as caught:
        run("webexteams_webhooks", action, str(webhook.pk))
    message = str(caught.value)
    assert "\n" not in message
    assert "gone at Webex" in message
    assert (
        "register it again: manage.py webexteams_webhooks register --name 'Bot messages' "
        "--resource messages --event created --filter roomId=abc"
    ) in message
    webhook.refresh_from_db()
    assert webhook.status == Webhook.Status.MISSING


def test_reactivating_a_webhook_never_registered_says_so(fake_webex: Any, bot: Any) -> None:
    webhook = make_webhook(webex_id=None)
    with pytest.raises(CommandError, match="never registered at Webex; register it again"):
        run("webexteams_webhooks", "reactivate", str(webhook.pk))
