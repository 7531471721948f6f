"""Admin pages never render tokens or secrets and survive rows under an unknown key."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.urls import reverse

from django_webexteams.admin import redact
from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery

KEY_A = Fernet.generate_key().decode()
KEY_LOST = Fernet.generate_key().decode()
TOKEN = "GOODTOKEN-0123456789-wxyz"
LOST_TOKEN = "LOSTTOKEN-0123456789-lost"


def use_keys(settings: Any, *keys: str) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": list(keys)}


@pytest.fixture
def rows(settings: Any) -> dict[str, Any]:
    """A readable credential/webhook and a credential/webhook written under a lost key."""
    use_keys(settings, KEY_LOST)
    lost = Credential.objects.create(name="lost-cred", access_token=LOST_TOKEN)
    lost_hook = Webhook.objects.create(
        name="lost-hook",
        resource="messages",
        event="created",
        secret="LOSTSECRET-xyz-12345",
        credential=lost,
    )
    use_keys(settings, KEY_A)
    good = Credential.objects.create(name="good-cred", access_token=TOKEN, refresh_token="")
    good_hook = Webhook.objects.create(
        name="good-hook",
        resource="messages",
        event="created",
        secret="GOODSECRET-abc-67890",
        credential=good,
    )
    WebhookDelivery.objects.create(
        webhook=lost_hook, dedupe_key="d1", resource="messages", event="created"
    )
    OutboundMessage.objects.create(credential=lost, room_id="ROOM", text="hi")
    return {"lost": lost, "good": good, "lost_hook": lost_hook, "good_hook": good_hook}


def assert_no_secrets(html: str) -> None:
    for secret in (TOKEN, LOST_TOKEN, "GOODSECRET-abc-67890", "LOSTSECRET-xyz-12345"):
        assert secret not in html


@pytest.mark.django_db
def test_credential_changelist_shows_unreadable_row(admin_client: Any, rows: Any) -> None:
    response = admin_client.get(reverse("admin:webexteams_credential_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "unreadable (wrong key)" in html
    assert "••••wxyz" in html
    assert "lost-cred" in html and "good-cred" in html
    assert_no_secrets(html)


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["webhook", "webhookdelivery", "outboundmessage"])
def test_other_changelists_survive_unreadable_related_rows(
    admin_client: Any, rows: Any, model: str
) -> None:
    response = admin_client.get(reverse(f"admin:webexteams_{model}_changelist"))
    assert response.status_code == 200
    assert_no_secrets(response.content.decode())


@pytest.mark.django_db
def test_webhook_changelist_redacts_secret(admin_client: Any, rows: Any) -> None:
    html = admin_client.get(reverse("admin:webexteams_webhook_changelist")).content.decode()
    assert "••••7890" in html and "unreadable (wrong key)" in html


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["lost", "good"])
def test_credential_change_page_renders_without_token(
    admin_client: Any, rows: Any, name: str
) -> None:
    cred = rows[name]
    response = admin_client.get(reverse("admin:webexteams_credential_change", args=[cred.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert_no_secrets(html)
    assert ("unreadable (wrong key)" in html) == (name == "lost")


@pytest.mark.django_db
def test_webhook_change_page_with_unreadable_credential_choices(
    admin_client: Any, rows: Any
) -> None:
    hook = rows["good_hook"]
    response = admin_client.get(reverse("admin:webexteams_webhook_change", args=[hook.pk]))
    assert response.status_code == 200
    assert_no_secrets(response.content.decode())


@pytest.mark.django_db
def test_add_credential_through_admin_is_encrypted(admin_client: Any, settings: Any) -> None:
    use_keys(settings, KEY_A)
    url = reverse("admin:webexteams_credential_add")
    data = {"kind": "bot", "name": "from-admin", "is_active": "on", "scopes": "[]"}
    missing = admin_client.post(url, data)
    assert missing.status_code == 200  # the form comes back: the token is required on add
    assert not Credential.objects.exists()
    response = admin_client.post(url, {**data, "new_access_token": "ADMIN-TOKEN-1234567890"})
    assert response.status_code == 302, response.content.decode()[:2000]
    cred = Credential.objects.get(name="from-admin")
    assert cred.access_token == "ADMIN-TOKEN-1234567890"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT access_token FROM {Credential._meta.db_table} WHERE id = %s",
            [cred.pk],
        )
        assert "ADMIN-TOKEN" not in cursor.fetchone()[0]

    # Editing with a blank token input keeps the token; a new value replaces it.
    change = reverse("admin:webexteams_credential_change", args=[cred.pk])
    page = admin_client.get(change).content.decode()
    assert "ADMIN-TOKEN" not in page and "••••7890" in page
    assert admin_client.post(change, {**data, "name": "renamed"}).status_code == 302
    cred.refresh_from_db()
    assert (cred.name, cred.access_token) == ("renamed", "ADMIN-TOKEN-1234567890")
    assert (
        admin_client.post(change, {**data, "new_access_token": "NEWER-TOKEN-abcdefgh"}).status_code
        == 302
    )
    cred.refresh_from_db()
    assert cred.access_token == "NEWER-TOKEN-abcdefgh"


@pytest.mark.django_db
def test_editing_unreadable_credential_keeps_its_ciphertext(admin_client: Any, rows: Any) -> None:
    lost = rows["lost"]
    table = Credential._meta.db_table
    query = f"SELECT access_token FROM {table} WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.execute(query, [lost.pk])
        before = cursor.fetchone()[0]
    change = reverse("admin:webexteams_credential_change", args=[lost.pk])
    data = {"kind": "bot", "name": "renamed-lost", "is_active": "on", "scopes": "[]"}
    assert admin_client.post(change, data).status_code == 302
    with connection.cursor() as cursor:
        cursor.execute(query, [lost.pk])
        assert cursor.fetchone()[0] == before


@pytest.mark.django_db
def test_changelist_search(admin_client: Any, rows: Any) -> None:
    url = reverse("admin:webexteams_credential_changelist")
    html = admin_client.get(url, {"q": "good-cred"}).content.decode()
    assert "good-cred" in html and "lost-cred" not in html


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", "(empty)"), (None, "(empty)"), ("short", "••••"), ("a-long-token-abcd", "••••abcd")],
)
def test_redact(value: str | None, shown: str) -> None:
    assert redact(value) == shown
