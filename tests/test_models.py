"""Tests for the models (constraints, reprs) and the client factory (clients.py)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from django_webexteams import clients
from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _keys(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": [KEY]}


class RecordingClient:
    def __init__(self, access_token: str, **kwargs: Any) -> None:
        self.access_token = access_token
        self.kwargs = kwargs


@pytest.fixture
def recording_client(monkeypatch: pytest.MonkeyPatch) -> type[RecordingClient]:
    """Replace django_webexteams.client with a stub that records its arguments."""
    stub = types.ModuleType("django_webexteams.client")
    stub.WebexClient = RecordingClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "django_webexteams.client", stub)
    return RecordingClient


# --- constraints -------------------------------------------------------------------------


@pytest.mark.django_db
def test_user_credential_unique_per_owner_and_person() -> None:
    user = get_user_model().objects.create(username="u")
    Credential.objects.create(kind="user", owner=user, webex_person_id="P1", access_token="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.create(kind="user", owner=user, webex_person_id="P1", access_token="b")
    # Another person for the same user, or bots with the same person id, are fine.
    Credential.objects.create(kind="user", owner=user, webex_person_id="P2", access_token="c")
    Credential.objects.create(kind="bot", webex_person_id="B", access_token="d")
    Credential.objects.create(kind="bot", webex_person_id="B", access_token="e")


@pytest.mark.django_db
def test_credential_kind_checked_by_database() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Credential.objects.create(kind="robot", access_token="a")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("targets", "ok"),
    [
        ({"room_id": "R"}, True),
        ({"to_person_id": "P"}, True),
        ({"to_person_email": "a@example.com"}, True),
        ({}, False),
        ({"room_id": "R", "to_person_id": "P"}, False),
        ({"room_id": "R", "to_person_email": "a@example.com"}, False),
        ({"to_person_id": "P", "to_person_email": "a@example.com"}, False),
    ],
)
def test_outbound_message_needs_exactly_one_target(targets: dict[str, str], ok: bool) -> None:
    if ok:
        msg = OutboundMessage.objects.create(text="hi", **targets)
        assert msg.status == OutboundMessage.Status.QUEUED
        assert msg.attempts == 0
    else:
        with pytest.raises(IntegrityError), transaction.atomic():
            OutboundMessage.objects.create(text="hi", **targets)


@pytest.mark.django_db
def test_idempotency_key_unique_but_null_repeatable() -> None:
    OutboundMessage.objects.create(room_id="R", text="a")
    OutboundMessage.objects.create(room_id="R", text="b")  # two NULL keys are fine
    OutboundMessage.objects.create(room_id="R", text="c", idempotency_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.create(room_id="R", text="d", idempotency_key="k")


@pytest.mark.django_db
def test_delivery_dedupe_key_unique() -> None:
    hook = Webhook.objects.create(name="h", resource="messages", event="created", secret="s")
    WebhookDelivery.objects.create(
        webhook=hook, dedupe_key="d1", resource="messages", event="created"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookDelivery.objects.create(
            webhook=hook, dedupe_key="d1", resource="messages", event="created"
        )


@pytest.mark.django_db
def test_webhook_defaults_and_unique_ids() -> None:
    a = Webhook.objects.create(name="a", resource="messages", event="created", secret="s")
    b = Webhook.objects.create(name="b", resource="messages", event="created", secret="s")
    assert a.uuid != b.uuid
    assert a.webex_id is None and b.webex_id is None  # many unregistered rows may coexist
    assert a.status == Webhook.Status.ACTIVE
    a.webex_id = "W1"
    a.save()
    b.webex_id = "W1"
    with pytest.raises(IntegrityError), transaction.atomic():
        b.save()


@pytest.mark.django_db
def test_credential_with_webhooks_is_protected() -> None:
    from django.db.models import ProtectedError

    cred = Credential.objects.create(access_token="a")
    Webhook.objects.create(name="a", resource="messages", event="created", credential=cred)
    with pytest.raises(ProtectedError):
        cred.delete()


def test_verbose_names_say_webex() -> None:
    for model in (Credential, Webhook, WebhookDelivery, OutboundMessage):
        assert str(model._meta.verbose_name).startswith("Webex ")


@pytest.mark.django_db
def test_repr_and_str_never_contain_tokens() -> None:
    cred = Credential.objects.create(
        access_token="TOKEN-123", refresh_token="REFRESH-456", name="n"
    )
    hook = Webhook.objects.create(name="h", resource="r", event="e", secret="SECRET-789")
    text = repr(cred) + str(cred) + repr(hook) + str(hook)
    assert "TOKEN-123" not in text and "REFRESH-456" not in text and "SECRET-789" not in text


def test_upload_to_reads_prefix_per_call(settings: Any) -> None:
    from django_webexteams.models import outbox_upload_to

    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "FILE_STORAGE_PREFIX": "custom/prefix"}
    path = outbox_upload_to(OutboundMessage(), "report.pdf")
    assert path.startswith("custom/prefix/") and path.endswith("/report.pdf")


# --- clients -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_credential_client_uses_settings(settings: Any, recording_client: Any) -> None:
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": "http://127.0.0.1:9/v1/",
        "REQUEST_TIMEOUT": 7,
        "TRUSTED_API_HOSTS": ["files.example.com"],
    }
    cred = Credential.objects.create(access_token="tok")
    client: Any = cred.client(user_agent="x")
    assert client.access_token == "tok"
    assert client.kwargs == {
        "base_url": "http://127.0.0.1:9/v1",
        "timeout": (7.0, 7.0),
        "trusted_hosts": ("files.example.com",),
        "user_agent": "x",
    }
    assert clients.client_for(cred).access_token == "tok"  # type: ignore[attr-defined]


def test_client_for_none_uses_bot_token(settings: Any, recording_client: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": " bot-token "}
    client: Any = clients.client_for(None, base_url="http://127.0.0.1:1/v1")
    assert client.access_token == "bot-token"
    assert client.kwargs["base_url"] == "http://127.0.0.1:1/v1"


@pytest.mark.parametrize("token", [None, "", "  "])
def test_client_for_none_without_bot_token(settings: Any, token: str | None) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": token}
    with pytest.raises(ImproperlyConfigured, match="BOT_TOKEN"):
        clients.client_for(None)


@pytest.mark.django_db
def test_rate_limit_key_is_stable_and_hides_token(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "bot-token-secret"}
    cred = Credential.objects.create(access_token="cred-token-secret")
    key_bot = clients.rate_limit_key(None)
    key_cred = clients.rate_limit_key(cred)
    assert key_bot == clients.rate_limit_key(None)
    assert key_cred == clients.rate_limit_key(Credential.objects.get(pk=cred.pk))
    assert key_bot != key_cred
    assert "secret" not in key_bot and "secret" not in key_cred
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "another-bot"}
    assert clients.rate_limit_key(None) != key_bot


def test_bot_token_works_without_database(settings: Any) -> None:
    """WEBEXTEAMS["BOT_TOKEN"] is a working default credential with no DB step (12-factor);
    not marked django_db, so any query here would fail the test."""
    import responses

    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "env-bot-token"}
    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:9/v1/people/me", json={"id": "BOT", "type": "bot"})
        me = clients.client_for().people.me()
        assert mock.calls[0].request.headers["Authorization"] == "Bearer env-bot-token"
    assert me.id == "BOT"
