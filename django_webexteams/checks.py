"""System checks (``webexteams.E0xx`` errors, ``webexteams.W0xx`` warnings).

No check touches the database or the network. All carry the tag ``webexteams``, so
``manage.py check --tag webexteams`` runs just these (every plain ``check`` runs them too).
Ids are never reused; docs/settings.md lists them all:

- E001 unknown ``WEBEXTEAMS`` key(s)
- E002 ``ENCRYPTION_KEYS`` missing or empty
- E003 ``ENCRYPTION_KEYS`` holds a value that is not a Fernet key (or is not a list/str)
- E004 OAuth half-configured (``CLIENT_ID`` without ``CLIENT_SECRET`` or the reverse)
- E005 ``WEBHOOK_DISPATCH`` is not ``"sync"`` or ``"celery"``
- E006 ``WEBHOOK_BASE_URL`` is not an absolute http(s) URL
- E007 ``WEBEXTEAMS`` is not a dict
- E008 "Log in with Webex" configured (``CLIENT_ID``) but ``WebexBackend`` is not in
  ``AUTHENTICATION_BACKENDS``
- W001 ``WEBHOOK_BASE_URL`` is not https while ``DEBUG`` is off
- W002 ``ENCRYPTION_KEYS`` lists the same key twice
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from django_webexteams import conf

_GENERATE_HINT = "Generate a key with: manage.py webexteams_generate_key (docs/encryption.md)."


def _setting(key: str) -> Any:
    """The value of ``WEBEXTEAMS[key]`` without conf.get()'s unknown-key error, so one typo
    (reported by E001) does not hide every other check."""
    value = getattr(settings, "WEBEXTEAMS", None) or {}
    if not isinstance(value, Mapping):
        return conf.DEFAULTS[key]
    return value.get(key, conf.DEFAULTS[key])


def _is_dict() -> bool:
    value = getattr(settings, "WEBEXTEAMS", None)
    return value is None or isinstance(value, Mapping)


@register("webexteams")
def check_settings_is_dict(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if _is_dict():
        return []
    return [
        Error(
            "settings.WEBEXTEAMS must be a dict.",
            hint='e.g. WEBEXTEAMS = {"ENCRYPTION_KEYS": [...], "BOT_TOKEN": ...}',
            id="webexteams.E007",
        )
    ]


@register("webexteams")
def check_unknown_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not _is_dict():
        return []  # E007 says it
    bad = conf.unknown_keys()
    if not bad:
        return []
    return [
        Error(
            f"Unknown WEBEXTEAMS setting(s): {', '.join(bad)}.",
            hint="Remove them or fix the spelling; docs/settings.md lists every setting.",
            id="webexteams.E001",
        )
    ]


@register("webexteams")
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    # Never put a key (valid or not) into a message: check output ends up in CI logs.
    raw = _setting("ENCRYPTION_KEYS")
    if isinstance(raw, str):
        keys: list[Any] = [k.strip() for k in raw.split(",") if k.strip()]
    elif isinstance(raw, list | tuple):
        keys = list(raw)
    elif raw is None:
        keys = []
    else:
        return [
            Error(
                'WEBEXTEAMS["ENCRYPTION_KEYS"] must be a list of Fernet keys '
                f"(or one comma-separated string), not {type(raw).__name__}.",
                hint=_GENERATE_HINT,
                id="webexteams.E003",
            )
        ]
    if not keys:
        return [
            Error(
                'WEBEXTEAMS["ENCRYPTION_KEYS"] is not set: tokens and webhook secrets are '
                "stored encrypted and need at least one key.",
                hint=_GENERATE_HINT + " Keep keys out of the code, e.g. in an environment "
                "variable; never derive them from SECRET_KEY.",
                id="webexteams.E002",
            )
        ]
    messages: list[CheckMessage] = []
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            messages.append(
                Error(
                    f'WEBEXTEAMS["ENCRYPTION_KEYS"][{index}] is not a valid Fernet key '
                    "(32 bytes, urlsafe base64).",
                    hint=_GENERATE_HINT,
                    id="webexteams.E003",
                )
            )
    if len({str(k) for k in keys}) != len(keys):
        messages.append(
            Warning(
                'WEBEXTEAMS["ENCRYPTION_KEYS"] lists the same key more than once.',
                hint="Remove the duplicate; the first key encrypts, the others only decrypt.",
                id="webexteams.W002",
            )
        )
    return messages


@register("webexteams")
def check_oauth(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    client_id = _setting("CLIENT_ID")
    client_secret = _setting("CLIENT_SECRET")
    if bool(client_id) == bool(client_secret):
        return []
    missing, present = (
        ("CLIENT_SECRET", "CLIENT_ID") if client_id else ("CLIENT_ID", "CLIENT_SECRET")
    )
    return [
        Error(
            f'WEBEXTEAMS["{present}"] is set but WEBEXTEAMS["{missing}"] is not: the OAuth '
            "integration needs both.",
            hint="Copy both from your integration's page at https://developer.webex.com/my-apps, "
            "or remove both to disable Log in with Webex.",
            id="webexteams.E004",
        )
    ]


_WEBEX_BACKEND = "django_webexteams.backends.WebexBackend"


@register("webexteams")
def check_login_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Without WebexBackend, authenticate() refuses every verified Webex login: each sign-in
    ends on "login_refused" while nothing else looks wrong (issue 15)."""
    if not _setting("CLIENT_ID"):
        return []
    from django_webexteams.oauth.backends import WebexBackend

    for path in getattr(settings, "AUTHENTICATION_BACKENDS", None) or ():
        try:
            backend = import_string(str(path))
        except ImportError:
            continue  # Django's own auth checks and the first login report a bad path
        if isinstance(backend, type) and issubclass(backend, WebexBackend):
            return []
    return [
        Error(
            f'WEBEXTEAMS["CLIENT_ID"] is set (Log in with Webex) but "{_WEBEX_BACKEND}" is not '
            "in AUTHENTICATION_BACKENDS: every Webex login would be refused.",
            hint=f'Add "{_WEBEX_BACKEND}" to AUTHENTICATION_BACKENDS, next to '
            '"django.contrib.auth.backends.ModelBackend" (docs/oauth.md). If the integration '
            "only connects accounts of users who are already signed in, silence it with "
            'SILENCED_SYSTEM_CHECKS = ["webexteams.E008"].',
            id="webexteams.E008",
        )
    ]


@register("webexteams")
def check_webhook_dispatch(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = _setting("WEBHOOK_DISPATCH")
    if value in ("sync", "celery"):
        return []
    return [
        Error(
            f'WEBEXTEAMS["WEBHOOK_DISPATCH"] is {value!r}; it must be "sync" or "celery".',
            hint='"sync" sends the signals in the request; "celery" queues them.',
            id="webexteams.E005",
        )
    ]


@register("webexteams")
def check_webhook_base_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = _setting("WEBHOOK_BASE_URL")
    if not value:
        return []
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            Error(
                f'WEBEXTEAMS["WEBHOOK_BASE_URL"] ({value!r}) is not an absolute http(s) URL.',
                hint='Use the public base URL Webex can reach, e.g. "https://example.com".',
                id="webexteams.E006",
            )
        ]
    # Webex sends the signed body and our URL carries the registration's UUID: over plain
    # http both can be read and replayed on the way. Fine on a laptop (DEBUG), not in production.
    if parts.scheme != "https" and not settings.DEBUG:
        return [
            Warning(
                f'WEBEXTEAMS["WEBHOOK_BASE_URL"] ({value!r}) is not https and DEBUG is off.',
                hint="Serve the webhook receiver over https in production.",
                id="webexteams.W001",
            )
        ]
    return []
