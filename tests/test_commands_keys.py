"""Key commands: webexteams_generate_key, webexteams_rotate_keys, webexteams_add_credential."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from django_webexteams.crypto import DecryptionError
from django_webexteams.models import Credential, Webhook

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()
API = "http://127.0.0.1:9/v1"  # tests/conftest.py points API_BASE_URL here


def use_keys(settings: Any, *keys: str) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": list(keys)}


def raw_rows() -> dict[tuple[str, int, str], str | None]:
    """Every encrypted column of every row, exactly as stored."""
    found: dict[tuple[str, int, str], str | None] = {}
    for model, names in [(Credential, ["access_token", "refresh_token"]), (Webhook, ["secret"])]:
        table = connection.ops.quote_name(model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(n) for n in names)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, {cols} FROM {table}")
            for pk, *values in cursor.fetchall():
                for name, value in zip(names, values):
                    found[(model.__name__, pk, name)] = value
    return found


def rotate(**kwargs: Any) -> str:
    out = io.StringIO()
    call_command("webexteams_rotate_keys", stdout=out, stderr=out, **kwargs)
    return out.getvalue()


# --- generate_key ------------------------------------------------------------------------


def test_generate_key_prints_only_valid_keys(settings: Any) -> None:
    use_keys(settings)  # works before any key is configured
    out = io.StringIO()
    call_command("webexteams_generate_key", stdout=out)
    key = out.getvalue().strip()
    Fernet(key.encode())
    out = io.StringIO()
    call_command("webexteams_generate_key", "--count", "3", stdout=out)
    keys = out.getvalue().split()
    assert len(set(keys)) == 3 and key not in keys
    for k in keys:
        Fernet(k.encode())


# --- rotate_keys -------------------------------------------------------------------------


@pytest.fixture
def rows_under_a(settings: Any) -> dict[str, str]:
    """Credentials and webhooks written while the only key is A; returns pk-label -> value."""
    use_keys(settings, KEY_A)
    values = {}
    for i in range(7):
        cred = Credential.objects.create(
            access_token=f"access-{i}-é", refresh_token="" if i % 2 else f"refresh-{i}"
        )
        values[f"cred{cred.pk}.access"] = f"access-{i}-é"
        values[f"cred{cred.pk}.refresh"] = "" if i % 2 else f"refresh-{i}"
    for i in range(3):
        hook = Webhook.objects.create(
            name=f"h{i}", resource="messages", event="created", secret=f"s{i}"
        )
        values[f"hook{hook.pk}.secret"] = f"s{i}"
    return values


def read_all(exclude_pk: int | None = None) -> dict[str, str]:
    values = {}
    for cred in Credential.objects.exclude(pk=exclude_pk):
        values[f"cred{cred.pk}.access"] = cred.access_token
        values[f"cred{cred.pk}.refresh"] = cred.refresh_token
    for hook in Webhook.objects.all():
        values[f"hook{hook.pk}.secret"] = hook.secret
    return values


@pytest.mark.django_db
def test_rotation_a_to_b(settings: Any, rows_under_a: dict[str, str]) -> None:
    before = raw_rows()
    use_keys(settings, KEY_B, KEY_A)
    out = rotate(batch_size=3)
    assert "17 re-encrypted" in out  # 7 access + 7 refresh + 3 secrets
    assert "0 unreadable" in out
    assert "webexteams.Credential: 3/7 rows" in out  # progress, in batches
    after = raw_rows()
    assert all(after[k] != before[k] for k in before)
    # Keys become [B]: every value reads back.
    use_keys(settings, KEY_B)
    assert read_all() == rows_under_a
    # A second rotation changes nothing, not even the ciphertext.
    out = rotate()
    assert "0 re-encrypted" in out and "17 already under the first key" in out
    assert raw_rows() == after


@pytest.mark.django_db
def test_rotation_writes_only_encrypted_columns(
    settings: Any, rows_under_a: dict[str, str]
) -> None:
    cred = Credential.objects.order_by("pk").first()
    assert cred is not None
    Credential.objects.filter(pk=cred.pk).update(name="unchanged")
    updated_at = Credential.objects.values_list("updated_at", flat=True).get(pk=cred.pk)
    use_keys(settings, KEY_B, KEY_A)
    rotate()
    row = Credential.objects.values_list("name", "updated_at").get(pk=cred.pk)
    assert row == ("unchanged", updated_at)  # no save(): auto_now did not fire


@pytest.mark.django_db
def test_unreadable_rows_reported_and_left_untouched(
    settings: Any, rows_under_a: dict[str, str]
) -> None:
    use_keys(settings, KEY_C)
    lost = Credential.objects.create(access_token="under-c", refresh_token="r")
    before = raw_rows()
    use_keys(settings, KEY_B, KEY_A)  # C is gone
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 value"):
        call_command("webexteams_rotate_keys", stdout=out, stderr=out)
    text = out.getvalue()
    assert f"webexteams.Credential.access_token pk={lost.pk}" in text
    assert f"webexteams.Credential.refresh_token pk={lost.pk}" in text
    assert "17 re-encrypted" in text and "2 unreadable" in text
    after = raw_rows()
    for name in ("access_token", "refresh_token"):
        assert after[("Credential", lost.pk, name)] == before[("Credential", lost.pk, name)]
    # Keys become [B]: every readable row moved to B; the lost one still raises, untouched,
    # and reads back once its key C is configured again.
    use_keys(settings, KEY_B)
    assert read_all(exclude_pk=lost.pk) == rows_under_a
    with pytest.raises(DecryptionError):
        Credential.objects.get(pk=lost.pk)
    use_keys(settings, KEY_B, KEY_C)
    assert Credential.objects.get(pk=lost.pk).access_token == "under-c"


@pytest.mark.django_db
def test_dry_run_changes_nothing(settings: Any, rows_under_a: dict[str, str]) -> None:
    before = raw_rows()
    use_keys(settings, KEY_B, KEY_A)
    out = rotate(dry_run=True)
    assert "would have" in out and "17 re-encrypted" in out
    assert raw_rows() == before


@pytest.mark.django_db
def test_value_changed_during_rotation_is_kept(
    settings: Any, rows_under_a: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_webexteams import crypto

    cred = Credential.objects.order_by("pk").first()
    assert cred is not None
    use_keys(settings, KEY_B, KEY_A)
    real = crypto.rotate

    def rotate_while_someone_writes(token: str) -> str:
        # A concurrent token refresh lands between our read and our write.
        Credential.objects.filter(pk=cred.pk).update(access_token="refreshed-meanwhile")
        return real(token)

    monkeypatch.setattr(crypto, "rotate", rotate_while_someone_writes)
    out = rotate()
    assert "changed meanwhile" in out and "1 changed meanwhile" in out
    assert Credential.objects.get(pk=cred.pk).access_token == "refreshed-meanwhile"


@pytest.mark.django_db
def test_rotate_without_keys_is_a_clear_error(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    use_keys(settings)
    with pytest.raises(ImproperlyConfigured, match="webexteams_generate_key"):
        rotate(skip_checks=True)
