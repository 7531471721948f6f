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
    for cred in Credential.objects.exclude(pk=exclude_pk or 0):
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


# --- add_credential ----------------------------------------------------------------------

ME_BOT = {
    "id": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q",
    "emails": ["echo@webex.bot"],
    "displayName": "Echo Bot",
    "orgId": "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9vcmc",
    "type": "bot",
}
ME_PERSON = {**ME_BOT, "id": "PERSON-1", "emails": ["alice@example.com"], "type": "person"}
NEW_TOKEN = "NEWTOKEN-from-the-developer-portal-0001"


@pytest.fixture
def webex() -> Any:
    """``responses`` standing in for Webex at the closed-port API base used by the suite."""
    import responses

    with responses.RequestsMock() as mock:
        yield mock


def add_credential(*args: str, stdin: str | None = None, **kwargs: Any) -> str:
    out = io.StringIO()
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command("webexteams_add_credential", *args, stdout=out, stderr=out, **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_add_credential_from_env_verifies_and_fills(
    settings: Any, webex: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(settings, KEY_A)
    me = webex.get(f"{API}/people/me", json=ME_BOT)
    monkeypatch.setenv("MY_WEBEX_TOKEN", NEW_TOKEN)
    out = add_credential("--token-env", "MY_WEBEX_TOKEN", "--name", "echo")
    assert me.call_count == 1
    assert webex.calls[0].request.headers["Authorization"] == f"Bearer {NEW_TOKEN}"
    cred = Credential.objects.get()
    assert (cred.kind, cred.name, cred.webex_person_id) == ("bot", "echo", ME_BOT["id"])
    assert (cred.email, cred.display_name, cred.org_id) == (
        "echo@webex.bot",
        "Echo Bot",
        ME_BOT["orgId"],
    )
    assert cred.access_token == NEW_TOKEN
    assert NEW_TOKEN not in out and "Created" in out
    assert all(NEW_TOKEN not in (v or "") for v in raw_rows().values())


@pytest.mark.django_db
def test_add_credential_from_stdin_updates_existing(settings: Any, webex: Any) -> None:
    use_keys(settings, KEY_A)
    webex.get(f"{API}/people/me", json=ME_PERSON)
    add_credential(stdin="Bearer first-token-value\n")
    out = add_credential(stdin="second-token-value\n")
    cred = Credential.objects.get()  # the same person: updated, not duplicated
    assert cred.kind == "user"
    assert cred.access_token == "second-token-value"
    assert "Updated" in out


@pytest.mark.django_db
def test_add_credential_rejected_token_saves_nothing(settings: Any, webex: Any) -> None:
    use_keys(settings, KEY_A)
    webex.get(
        f"{API}/people/me",
        status=401,
        json={"message": "The request requires a valid access token.", "trackingId": "T-401"},
    )
    with pytest.raises(CommandError, match="401") as info:
        add_credential(stdin="bad-token-value\n")
    assert "bad-token-value" not in str(info.value)
    assert "T-401" in str(info.value)
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_add_credential_kind_must_match_webex(settings: Any, webex: Any) -> None:
    use_keys(settings, KEY_A)
    webex.get(f"{API}/people/me", json=ME_PERSON)
    with pytest.raises(CommandError, match="belongs to a person"):
        add_credential("--kind", "bot", stdin="tok\n")
    assert not Credential.objects.exists()


@pytest.mark.django_db
def test_add_credential_owner(settings: Any, webex: Any) -> None:
    from django.contrib.auth import get_user_model

    use_keys(settings, KEY_A)
    user = get_user_model().objects.create(username="alice")
    webex.get(f"{API}/people/me", json=ME_PERSON)
    add_credential("--owner", "alice", stdin="tok\n")
    assert Credential.objects.get().owner == user
    with pytest.raises(CommandError, match="No user"):
        add_credential("--owner", "bob", stdin="tok\n")


def test_add_credential_never_takes_the_token_from_argv(capsys: Any) -> None:
    from django.core.management import ManagementUtility

    utility = ManagementUtility(
        ["manage.py", "webexteams_add_credential", "SECRET-IN-ARGV-123", "--token", "SECRET2"]
    )
    with pytest.raises(SystemExit) as info:
        utility.execute()
    assert info.value.code != 0
    err = capsys.readouterr().err
    assert "SECRET-IN-ARGV-123" not in err and "SECRET2" not in err
    assert "--token-env" in err


@pytest.mark.django_db
def test_add_credential_env_missing_or_stdin_empty(settings: Any, webex: Any) -> None:
    use_keys(settings, KEY_A)
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE"):
        add_credential("--token-env", "NOT_SET_ANYWHERE")
    with pytest.raises(CommandError, match="No token on stdin"):
        add_credential(stdin="\n")
    assert len(webex.calls) == 0
