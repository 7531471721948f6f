"""The public names (SPEC.md and the docs) import from the paths users import them from.

The package's layout may change (docs/architecture.md); these paths may not. Each entry is a
dotted path as users write it in code or in settings.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from django.core.management import get_commands, load_command_class
from django.urls import reverse
from django.utils.module_loading import import_string

PUBLIC_PATHS = [
    # client (pure Python)
    "django_webexteams.client.WebexClient",
    "django_webexteams.client.ApiError",
    "django_webexteams.client.RateLimitedError",
    "django_webexteams.client.verify_signature",
    "django_webexteams.client.MarkdownBuilder",
    # models
    "django_webexteams.models.Credential",
    "django_webexteams.models.Webhook",
    "django_webexteams.models.WebhookDelivery",
    "django_webexteams.models.OutboundMessage",
    # the websocket listener
    "django_webexteams.listener.Listener",
    "django_webexteams.listener.ListenerStats",
    "django_webexteams.listener.ListenerError",
    # signals
    *(
        f"django_webexteams.signals.{name}"
        for name in (
            "webhook_received",
            "message_created",
            "message_deleted",
            "membership_created",
            "membership_updated",
            "membership_deleted",
            "room_created",
            "room_updated",
            "attachment_action_created",
            "message_sent",
            "message_failed",
            "credential_connected",
            "credential_refreshed",
            "credential_revoked",
            "webhook_disabled",
        )
    ),
    # sending
    *(
        f"django_webexteams.messaging.{name}"
        for name in (
            "send_message",
            "send_template",
            "resend",
            "requeue_stuck",
            "deliver",
            "enqueue_delivery",
            "lease_seconds",
            "DeliveryResult",
            "InvalidMessageError",
            "StoredFileError",
            "MAX_MESSAGE_BYTES",
            "MAX_FILE_BYTES",
        )
    ),
    # webhooks
    *(
        f"django_webexteams.webhooks.{name}"
        for name in (
            "register_webhook",
            "sync_webhooks",
            "rotate_secret",
            "reactivate_webhook",
            "delete_webhook",
            "list_remote_webhooks",
            "target_url_for",
            "check_webhooks",
            "CheckResult",
            "SyncResult",
            "accept_delivery",
            "process_delivery",
            "reprocess_delivery",
            "schedule_dispatch",
            "dispatch_mode",
            "flush_outcomes",
            "prune_deliveries",
            "own_person_id",
            "parse_payload",
            "dedupe_key",
            "InvalidPayloadError",
            "Registration",
            "active_registration",
            "lookup_registration",
            "forget_registrations",
        )
    ),
    # OAuth: dotted paths that live in settings (ADAPTER, AUTHENTICATION_BACKENDS)
    "django_webexteams.adapter.DefaultAdapter",
    "django_webexteams.adapter.OAuthLoginError",
    "django_webexteams.adapter.get_adapter",
    "django_webexteams.backends.WebexBackend",
    "django_webexteams.tokens.get_valid_access_token",
    "django_webexteams.tokens.refresh_credential",
    "django_webexteams.tokens.CredentialInactiveError",
    "django_webexteams.tokens.TokenRefreshError",
    # named in the docs
    "django_webexteams.clients.client_for",
    "django_webexteams.clients.rate_limit_key",
    "django_webexteams.events.WebhookEvent",
    "django_webexteams.fields.EncryptedTextField",
    "django_webexteams.crypto.DecryptionError",
    "django_webexteams.conf.DEFAULTS",
    "django_webexteams.ratelimit.current_rate",
    "django_webexteams.ratelimit.unblock",
    "django_webexteams.admin.redact",
    "django_webexteams.admin.EstimatedCountPaginator",
    "django_webexteams.admin.CredentialAdmin",
    "django_webexteams.admin.WebhookAdmin",
    "django_webexteams.admin.WebhookDeliveryAdmin",
    "django_webexteams.admin.OutboundMessageAdmin",
    # fake Webex
    "django_webexteams.testing.FakeWebex",
]


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_name_imports(path: str) -> None:
    assert import_string(path) is not None


def test_old_oauth_paths_are_the_real_objects() -> None:
    # A subclass of django_webexteams.adapter.DefaultAdapter must be the adapter the views
    # use, and the backend Django stored in a session must be the one that authenticates.
    from django_webexteams.oauth import adapter, backends

    assert import_string("django_webexteams.adapter.DefaultAdapter") is adapter.DefaultAdapter
    assert import_string("django_webexteams.backends.WebexBackend") is backends.WebexBackend
    from django_webexteams import conf

    assert import_string(str(conf.DEFAULTS["ADAPTER"])) is adapter.DefaultAdapter


def _keywords(func: Any) -> list[str]:
    return [p.name for p in inspect.signature(func).parameters.values() if p.kind is p.KEYWORD_ONLY]


def test_the_spec_signatures() -> None:
    from django_webexteams.messaging import send_message
    from django_webexteams.webhooks import register_webhook

    assert _keywords(send_message)[:10] == [
        "room_id",
        "to_person_id",
        "to_person_email",
        "text",
        "markdown",
        "parent_id",
        "attachments",
        "file",
        "credential",
        "idempotency_key",
    ]
    assert _keywords(register_webhook)[:5] == ["name", "resource", "event", "filter", "credential"]


def test_url_names() -> None:
    assert reverse("webexteams:webhook", kwargs={"uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12})
    for name in ("oauth_login", "oauth_callback", "oauth_disconnect"):
        assert reverse(f"webexteams:{name}")


COMMANDS = [
    "webexteams_add_credential",
    "webexteams_deliveries",
    "webexteams_fake_server",
    "webexteams_generate_key",
    "webexteams_listen",
    "webexteams_outbox",
    "webexteams_rotate_keys",
    "webexteams_send",
    "webexteams_webhooks",
]


@pytest.mark.parametrize("name", COMMANDS)
def test_commands(name: str) -> None:
    assert get_commands()[name] == "django_webexteams"
    assert load_command_class("django_webexteams", name) is not None


TASKS = {
    "refresh_credentials": "webexteams.refresh_credentials",
    "process_delivery": "webexteams.process_delivery",
    "check_webhooks": "webexteams.check_webhooks",
    "prune_deliveries": "webexteams.prune_deliveries",
    "deliver_message": "webexteams.deliver_message",
    "refresh_credential": "webexteams.refresh_credential",
    "check_webhook": "webexteams.check_webhook",
    "requeue_stuck_messages": "webexteams.requeue_stuck_messages",
}


def test_celery_tasks_keep_their_names_and_module() -> None:
    # Celery's autodiscovery imports django_webexteams.tasks: every task must be reachable
    # there, under its explicit name (beat schedules and routes name them).
    from celery import current_app

    from django_webexteams import tasks

    for attr, name in TASKS.items():
        assert getattr(tasks, attr).name == name
        assert name in current_app.tasks
    assert sorted(t for t in current_app.tasks if t.startswith("webexteams.")) == sorted(
        TASKS.values()
    )


def test_the_admin_registers_every_model() -> None:
    from django.contrib import admin

    from django_webexteams import models

    for model in (
        models.Credential,
        models.Webhook,
        models.WebhookDelivery,
        models.OutboundMessage,
        models.Space,
        models.License,
    ):
        assert admin.site.is_registered(model)
