"""Tests for EncryptedTextField (through Credential and Webhook, the models that use it)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from django_webexteams.crypto import DecryptionError
from django_webexteams.fields import EncryptedLookupError, EncryptedTextField
from django_webexteams.models import Credential, Webhook

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _keys(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": [KEY_A]}


def raw_column(model: Any, field: str, pk: int) -> Any:
    """The column exactly as stored, read with SQL (no field conversion)."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field).column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_raw_column_holds_no_plaintext() -> None:
    cred = Credential.objects.create(
        access_token="ACCESS-plaintext-123", refresh_token="REFRESH-plaintext-456"
    )
    hook = Webhook.objects.create(
        name="h", resource="messages", event="created", secret="SECRET-plaintext-789"
    )
    stored = [
        raw_column(Credential, "access_token", cred.pk),
        raw_column(Credential, "refresh_token", cred.pk),
        raw_column(Webhook, "secret", hook.pk),
    ]
    for value, plain in zip(
        stored, ["ACCESS-plaintext-123", "REFRESH-plaintext-456", "SECRET-plaintext-789"]
    ):
        assert value and plain not in value
        assert Fernet(KEY_A.encode()).decrypt(value.encode()).decode() == plain
    # And the whole rows, as the database sees them, contain none of the secrets.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Credential._meta.db_table}")
        dump = repr(cursor.fetchall())
        cursor.execute(f"SELECT * FROM {Webhook._meta.db_table}")
        dump += repr(cursor.fetchall())
    assert "plaintext" not in dump


@pytest.mark.django_db
def test_values_read_back() -> None:
    cred = Credential.objects.create(access_token="tök€n 🎉", refresh_token="")
    cred = Credential.objects.get(pk=cred.pk)
    assert cred.access_token == "tök€n 🎉"
    assert cred.refresh_token == ""
    assert raw_column(Credential, "refresh_token", cred.pk) != ""  # even "" is encrypted


class TestHypothesisRoundTrip(HypothesisTestCase):
    @given(value=st.text())
    @hsettings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
    def test_round_trip(self, value: str) -> None:
        with override_settings(WEBEXTEAMS={"ENCRYPTION_KEYS": [KEY_A]}):
            cred = Credential.objects.create(access_token=value)
            assert Credential.objects.get(pk=cred.pk).access_token == value


@pytest.mark.django_db
def test_wrong_key_raises_naming_model_and_field(settings: Any) -> None:
    cred = Credential.objects.create(access_token="tok-abcd")
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": [KEY_B]}
    with pytest.raises(DecryptionError) as info:
        Credential.objects.get(pk=cred.pk)
    assert info.value.model == "webexteams.Credential"
    assert info.value.field == "access_token"
    assert "webexteams.Credential.access_token" in str(info.value)
    assert "tok-abcd" not in str(info.value)


@pytest.mark.django_db
def test_plaintext_in_column_is_never_returned() -> None:
    cred = Credential.objects.create(access_token="x")
    table = Credential._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET access_token = %s WHERE id = %s",
            ["written-around-the-field", cred.pk],
        )
    with pytest.raises(DecryptionError):
        Credential.objects.get(pk=cred.pk)


@pytest.mark.django_db
def test_deferred_unreadable_row_loads_and_does_not_resave_token(settings: Any) -> None:
    cred = Credential.objects.create(access_token="tok", name="before")
    raw_before = raw_column(Credential, "access_token", cred.pk)
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": [KEY_B]}
    loaded = Credential.objects.defer("access_token", "refresh_token").get(pk=cred.pk)
    loaded.name = "after"
    loaded.save()
    assert raw_column(Credential, "access_token", cred.pk) == raw_before
    assert raw_column(Credential, "name", cred.pk) == "after"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "lookup",
    [
        {"access_token": "x"},
        {"access_token__exact": "x"},
        {"access_token__iexact": "x"},
        {"access_token__contains": "x"},
        {"access_token__startswith": "x"},
        {"access_token__in": ["x"]},
        {"access_token__gt": "x"},
        {"access_token__lower": "x"},
        {"refresh_token": ""},
    ],
)
def test_lookups_are_refused(lookup: dict[str, Any]) -> None:
    with pytest.raises(EncryptedLookupError, match="encrypted"):
        list(Credential.objects.filter(**lookup))


@pytest.mark.django_db
def test_isnull_is_allowed() -> None:
    Credential.objects.create(access_token="x")
    assert Credential.objects.filter(access_token__isnull=False).count() == 1
    assert Credential.objects.filter(access_token__isnull=True).count() == 0
    assert Credential.objects.filter(access_token=None).count() == 0


def test_deconstruct_is_plain() -> None:
    field = Credential._meta.get_field("refresh_token")
    _name, path, args, kwargs = field.deconstruct()
    assert path == "django_webexteams.fields.EncryptedTextField"
    assert args == []
    assert kwargs == {"blank": True, "default": "", "verbose_name": "refresh token"}
    rebuilt = EncryptedTextField(*args, **kwargs)
    assert rebuilt.deconstruct()[3] == kwargs


@pytest.mark.django_db
def test_update_through_queryset_encrypts() -> None:
    cred = Credential.objects.create(access_token="old")
    Credential.objects.filter(pk=cred.pk).update(access_token="new-plain")
    assert "new-plain" not in raw_column(Credential, "access_token", cred.pk)
    assert Credential.objects.get(pk=cred.pk).access_token == "new-plain"


# --- serialisation (dumpdata/loaddata), issue 16 -----------------------------------------


def _dump(*args: str) -> str:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command(*args, "webexteams.credential", "webexteams.webhook", stdout=out)
    return out.getvalue()


def _load(text: str, tmp_path: Any) -> None:
    from django.core.management import call_command

    fixture = tmp_path / "dump.json"
    fixture.write_text(text)
    call_command("loaddata", str(fixture), verbosity=0)


@pytest.fixture
def secrets_stored(db: None) -> tuple[Credential, Webhook]:
    cred = Credential.objects.create(
        kind="bot", name="b", access_token="DUMP-ACCESS-token", refresh_token="DUMP-REFRESH"
    )
    hook = Webhook.objects.create(
        name="w", resource="messages", event="created", secret="DUMP-webhook-secret"
    )
    return cred, hook


SECRET_VALUES = ("DUMP-ACCESS-token", "DUMP-REFRESH", "DUMP-webhook-secret")


@pytest.mark.django_db
def test_dumpdata_writes_ciphertext_and_loaddata_round_trips(
    secrets_stored: tuple[Credential, Webhook], tmp_path: Any
) -> None:
    """The attack: a dump (attached to a ticket, left on a laptop) held every token."""
    import json

    cred, hook = secrets_stored
    text = _dump("dumpdata")
    for secret in SECRET_VALUES:
        assert secret not in text
    rows = {row["model"]: row["fields"] for row in json.loads(text)}
    assert rows["webexteams.credential"]["access_token"].startswith("fernet:")
    Credential.objects.all().delete()
    Webhook.objects.all().delete()
    _load(text, tmp_path)
    assert Credential.objects.get(pk=cred.pk).access_token == "DUMP-ACCESS-token"
    assert Credential.objects.get(pk=cred.pk).refresh_token == "DUMP-REFRESH"
    assert Webhook.objects.get(pk=hook.pk).secret == "DUMP-webhook-secret"
    # Stored once-encrypted (not the serialised ciphertext wrapped again).
    assert raw_column(Credential, "access_token", cred.pk).startswith("gAAAA")


@pytest.mark.django_db
def test_plaintext_export_is_explicit_and_round_trips(
    secrets_stored: tuple[Credential, Webhook], tmp_path: Any
) -> None:
    cred, _hook = secrets_stored
    assert "DUMP-ACCESS-token" not in _dump("webexteams_dumpdata")
    text = _dump("webexteams_dumpdata", "--plaintext")
    for secret in SECRET_VALUES:
        assert secret in text
    assert "DUMP-ACCESS-token" not in _dump("dumpdata")  # the switch does not stick
    Credential.objects.all().delete()
    Webhook.objects.all().delete()
    _load(text, tmp_path)
    assert Credential.objects.get(pk=cred.pk).access_token == "DUMP-ACCESS-token"


@pytest.mark.django_db
def test_loaddata_under_other_keys_fails_loudly(
    secrets_stored: tuple[Credential, Webhook], tmp_path: Any, settings: Any
) -> None:
    from django.core.serializers.base import DeserializationError

    text = _dump("dumpdata")
    Credential.objects.all().delete()
    Webhook.objects.all().delete()
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": [KEY_B]}
    with pytest.raises((DecryptionError, DeserializationError)):
        _load(text, tmp_path)
    assert not Credential.objects.exists()
