"""System checks: every id fires for its case, stays quiet otherwise, and never shows a key."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.checks import CheckMessage, run_checks

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()

GOOD = {
    "ENCRYPTION_KEYS": [KEY_A],
    "WEBHOOK_DISPATCH": "sync",
    "WEBHOOK_BASE_URL": "https://example.com",
}


def _run() -> list[CheckMessage]:
    # Only this app's checks: Django's model checks may query the database (SQLite's JSON
    # support), and these must pass without one.
    return run_checks(tags=["webexteams"])


def ids(settings: Any, debug: bool = False, **webexteams: Any) -> list[str]:
    settings.DEBUG = debug
    settings.WEBEXTEAMS = {**GOOD, **webexteams}
    return sorted(m.id for m in _run() if m.id and m.id.startswith("webexteams."))


def messages(settings: Any, **webexteams: Any) -> str:
    settings.WEBEXTEAMS = {**GOOD, **webexteams}
    return "\n".join(f"{m.msg} {m.hint}" for m in _run())


def test_good_settings_are_quiet(settings: Any) -> None:
    assert ids(settings) == []
    assert ids(settings, ENCRYPTION_KEYS=f"{KEY_A},{KEY_B}") == []
    assert ids(settings, CLIENT_ID="id", CLIENT_SECRET="secret") == []
    assert ids(settings, WEBHOOK_DISPATCH="celery", WEBHOOK_BASE_URL=None) == []


def test_unknown_key_e001_does_not_hide_other_checks(settings: Any) -> None:
    assert ids(settings, BOT_TOKN="x", ENCRYPTION_KEYS=[]) == ["webexteams.E001", "webexteams.E002"]


@pytest.mark.parametrize("value", [[], (), None, "", " , "])
def test_missing_keys_e002(settings: Any, value: Any) -> None:
    assert ids(settings, ENCRYPTION_KEYS=value) == ["webexteams.E002"]


def test_default_is_missing_keys(settings: Any) -> None:
    settings.WEBEXTEAMS = {}
    assert "webexteams.E002" in [m.id for m in _run()]


@pytest.mark.parametrize(
    "value",
    [
        ["not-a-key"],
        [KEY_A, "c2hvcnQ="],
        [KEY_A[:-2]],
        [123],
        42,
        "short-key-as-string",
    ],
)
def test_malformed_keys_e003(settings: Any, value: Any) -> None:
    assert ids(settings, ENCRYPTION_KEYS=value) == ["webexteams.E003"]


def test_malformed_key_is_not_echoed(settings: Any) -> None:
    text = messages(settings, ENCRYPTION_KEYS=[KEY_A, "my-secret-but-broken-key"])
    assert "[1]" in text
    assert "my-secret-but-broken-key" not in text and KEY_A not in text


def test_duplicate_key_w002(settings: Any) -> None:
    assert ids(settings, ENCRYPTION_KEYS=[KEY_A, KEY_A]) == ["webexteams.W002"]


@pytest.mark.parametrize(
    ("client_id", "client_secret", "expected"),
    [
        ("id", None, ["webexteams.E004"]),
        (None, "secret", ["webexteams.E004"]),
        ("id", "", ["webexteams.E004"]),
        ("id", "secret", []),
        (None, None, []),
    ],
)
def test_oauth_half_configured_e004(
    settings: Any, client_id: Any, client_secret: Any, expected: list[str]
) -> None:
    assert ids(settings, CLIENT_ID=client_id, CLIENT_SECRET=client_secret) == expected


@pytest.mark.parametrize(
    ("backends", "client_id", "expected"),
    [
        (["django.contrib.auth.backends.ModelBackend"], "id", ["webexteams.E008"]),
        ([], "id", ["webexteams.E008"]),
        (["not.a.module.Backend"], "id", ["webexteams.E008"]),
        (["django.contrib.auth.backends.ModelBackend"], None, []),  # no login configured
        (
            [
                "django.contrib.auth.backends.ModelBackend",
                "django_webexteams.backends.WebexBackend",
            ],
            "id",
            [],
        ),
        (["tests.test_checks.MyWebexBackend"], "id", []),
    ],
)
def test_login_without_webex_backend_e008(
    settings: Any, backends: list[str], client_id: Any, expected: list[str]
) -> None:
    """Issue 15: README's settings once left WebexBackend out; every login was refused."""
    settings.AUTHENTICATION_BACKENDS = backends
    secret = "secret" if client_id else None
    assert ids(settings, CLIENT_ID=client_id, CLIENT_SECRET=secret) == expected


def test_e008_says_what_to_add(settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    text = messages(settings, CLIENT_ID="id", CLIENT_SECRET="secret")
    assert "django_webexteams.backends.WebexBackend" in text
    assert "AUTHENTICATION_BACKENDS" in text


def test_oauth_message_never_shows_secret(settings: Any) -> None:
    text = messages(settings, CLIENT_SECRET="the-client-secret-value")
    assert "CLIENT_ID" in text and "the-client-secret-value" not in text


@pytest.mark.parametrize("value", ["async", "", None, "SYNC", "threads"])
def test_webhook_dispatch_e005(settings: Any, value: Any) -> None:
    assert ids(settings, WEBHOOK_DISPATCH=value) == ["webexteams.E005"]


@pytest.mark.parametrize("value", ["example.com", "ftp://example.com", "https://", "/webex/"])
def test_webhook_base_url_malformed_e006(settings: Any, value: str) -> None:
    assert ids(settings, WEBHOOK_BASE_URL=value) == ["webexteams.E006"]


def test_webhook_base_url_http_w001_outside_debug(settings: Any) -> None:
    assert ids(settings, WEBHOOK_BASE_URL="http://example.com") == ["webexteams.W001"]
    assert ids(settings, debug=True, WEBHOOK_BASE_URL="http://example.com") == []
    assert ids(settings, WEBHOOK_BASE_URL="https://example.com/prefix") == []


def test_settings_not_a_dict_e007(settings: Any) -> None:
    settings.WEBEXTEAMS = ["ENCRYPTION_KEYS"]
    found = sorted(m.id or "" for m in _run() if (m.id or "").startswith("webexteams."))
    assert "webexteams.E007" in found
    assert "webexteams.E001" not in found  # no crash, no duplicate report


def test_checks_need_no_database(settings: Any) -> None:
    # Not marked django_db: pytest-django blocks database access, so a query here would fail.
    assert ids(settings, ENCRYPTION_KEYS=[]) == ["webexteams.E002"]


def _subclass() -> type:
    from django_webexteams.backends import WebexBackend

    return type("MyWebexBackend", (WebexBackend,), {"__module__": __name__})


MyWebexBackend = _subclass()  # a project's own subclass of WebexBackend counts
