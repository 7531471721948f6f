"""The one place where ``settings.WEBEXTEAMS`` is read.

Every value is read per call (never at import time), so ``override_settings`` works and
nothing in a class body, default argument or module constant depends on settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULT_API_BASE_URL = "https://webexapis.com/v1"

#: Every key that ``WEBEXTEAMS`` may hold, with its default. docs/settings.md documents each.
DEFAULTS: dict[str, Any] = {
    # --- the API and the client -------------------------------------------------------------
    # Base URL of the Webex REST API (point it at the fake Webex in tests and the demo).
    "API_BASE_URL": DEFAULT_API_BASE_URL,
    # (connect, read) timeouts in seconds, or one number for both.
    "REQUEST_TIMEOUT": (5.0, 30.0),
    # Extra hosts (besides API_BASE_URL's) that may receive the bearer token for file downloads.
    "TRUSTED_API_HOSTS": (),
    # --- storage ----------------------------------------------------------------------------
    # Fernet keys (urlsafe base64, 32 bytes). The first encrypts; all decrypt. Required.
    "ENCRYPTION_KEYS": (),
    # --- the default bot --------------------------------------------------------------------
    # A bot token from the environment, used when no Credential is given (12-factor).
    "BOT_TOKEN": None,
    # --- OAuth integration ------------------------------------------------------------------
    "CLIENT_ID": None,
    "CLIENT_SECRET": None,
    "OAUTH_SCOPES": ("spark:people_read",),
    "OAUTH_AUTHORIZE_URL": None,  # default: API_BASE_URL + "/authorize"
    "OAUTH_TOKEN_URL": None,  # default: API_BASE_URL + "/access_token"
    "OAUTH_REDIRECT_URI": None,  # default: built from the request and webexteams:oauth_callback
    "OAUTH_CREATE_USERS": True,
    "OAUTH_MATCH_EMAIL": False,
    "OAUTH_LOGIN_REDIRECT_URL": "/",
    "OAUTH_STATE_TTL": 600,
    "ADAPTER": "django_webexteams.adapter.DefaultAdapter",
    # Refresh an access token this many seconds before it expires.
    "TOKEN_REFRESH_MARGIN": 300,
    # --- webhooks ---------------------------------------------------------------------------
    # Public https base URL that Webex can reach, e.g. "https://example.com".
    "WEBHOOK_BASE_URL": None,
    "WEBHOOK_DISPATCH": "sync",  # "sync" or "celery"
    "WEBHOOK_MAX_BODY_BYTES": 256 * 1024,
    "WEBHOOK_DISPATCH_OWN_EVENTS": False,
    "WEBHOOK_AUTO_REACTIVATE": False,
    # Seconds the receiver keeps an active webhook's row (its decrypted secret included) in
    # each process's memory, saving a query and a decryption per delivery. A save or delete
    # made in another process applies at once through a shared default cache, else within
    # this time; a rotated secret at once (a signature mismatch re-reads the row). 0 turns
    # the cache off. docs/webhooks.md.
    "WEBHOOK_CACHE_SECONDS": 5,
    # After rotate_secret, deliveries signed with the previous secret are still accepted for
    # this many seconds (Webex may have signed them before it took the new secret), then
    # never again. Checked only when the current secret fails. 0: no grace. docs/webhooks.md.
    "WEBHOOK_SECRET_GRACE_SECONDS": 300,
    # Sync dispatch on PostgreSQL, outside a transaction: a background thread per process
    # writes "processed"/"ignored" outcomes in batches at most this many seconds apart (one
    # statement and one commit per batch, not per delivery). A "failed" outcome is written
    # at once. 0 writes every outcome in its request. docs/webhooks.md.
    "WEBHOOK_OUTCOME_BATCH_SECONDS": 0.1,
    # Celery dispatch on a Redis broker: enqueue each delivery's task as one LPUSH of the
    # message Celery would send, captured once per process, instead of apply_async (which
    # costs several times more per delivery). Used only where the copy is exact; False:
    # always apply_async. docs/webhooks.md.
    "WEBHOOK_CELERY_FAST_PUBLISH": True,
    # With it, deliveries are enqueued by a background thread per process in batches at
    # most this many seconds apart (one LPUSH per batch), off the request: Webex's 200 does
    # not wait for the broker. 0: each in its request. docs/webhooks.md.
    "WEBHOOK_CELERY_PUBLISH_BATCH_SECONDS": 0.02,
    # PostgreSQL with psycopg 3: store each delivery with a server-side prepared INSERT
    # (parsed and planned once per connection). Turned off for the process by itself when
    # the database or a pooler refuses prepared statements; False: never. docs/webhooks.md.
    "WEBHOOK_PREPARED_INSERT": True,
    "DELIVERY_RETENTION_DAYS": 30,
    # --- sending ----------------------------------------------------------------------------
    "CELERY_QUEUE": None,  # None: Celery's default queue
    "SEND_MAX_ATTEMPTS": 10,
    "SEND_BACKOFF_BASE": 2.0,
    "SEND_BACKOFF_MAX": 300.0,
    # Django cache alias holding the shared rate-limit gate (use a Redis cache in production).
    "RATE_LIMIT_CACHE": "default",
    # Upper bound for one Celery countdown; keep below the broker's visibility timeout.
    "MAX_COUNTDOWN": 600,
    # Storage path prefix for files queued with send_message(file=...).
    "FILE_STORAGE_PREFIX": "webexteams/outbox/",
    # Seconds a send may hold an outbox row in "sending" before another copy of the task may
    # assume the worker died and take over. None: connect + read REQUEST_TIMEOUT + 30 s.
    "SEND_LEASE_SECONDS": None,
    # Optional proactive pacing per credential: (count, period_seconds), e.g. (5, 1.0). With
    # SEND_RATE_ADAPTIVE on it is the adaptive pacing's ceiling (and starting rate).
    "SEND_RATE_LIMIT": None,
    # Adaptive pacing (docs/sending.md): per credential, sends are admitted at a rate learnt
    # from 429s (the rate Webex accepted just before a 429, times SEND_RATE_DECREASE; kept 30
    # days, so a new burst starts at it), probing upwards as TCP CUBIC does; refused sends come
    # back at evenly spaced slots. Fails open (the plain gate) when the cache errs.
    "SEND_RATE_ADAPTIVE": True,
    # Requests per second before anything is learnt; None: unpaced until the first 429.
    "SEND_RATE_INITIAL": None,
    "SEND_RATE_DECREASE": 0.95,
    # Upward probing (CUBIC): seconds from a 429 until the pace is twice the rate that 429
    # met (a limit raised to twice is found within this); 0 or None: no probing.
    "SEND_RATE_PROBE_SECONDS": 50.0,
    # Shortest window (s) over which a 429 measures the rate achieved; a longer Retry-After
    # widens it (at most 60 s).
    "SEND_RATE_WINDOW": 1.0,
    # The learnt rate never drops below this (requests per second).
    "SEND_RATE_MIN": 0.05,
    # --- admin ------------------------------------------------------------------------------
    # How the admin runs its long bulk actions ("refresh now", "check status at Webex",
    # "reprocess"): "sync" in the request, "celery" as tasks. None: same as WEBHOOK_DISPATCH.
    "ADMIN_TASKS": None,
    # --- websocket listener ----------------------------------------------------------------
    # manage.py webexteams_listen (docs/deployment.md). Experimental:
    # Webex does not document this path as a public API.
    "LISTENER_U2C_URL": "https://u2c.wbx2.com/u2c/api/v1/catalog",
    "LISTENER_DEVICE_NAME": "django-webexteams",
    # A protocol ping every N seconds, answered within N: a dead connection is noticed
    # within 2 x N seconds.
    "LISTENER_PING_SECONDS": 15.0,
    "LISTENER_BACKOFF_MAX_SECONDS": 60.0,
    # After a reconnect (and at start), catch up over REST on at most this many seconds.
    "LISTENER_CATCHUP_SECONDS": 3600,
    # Hosts besides the catalog's own that may receive the token (exact names).
    "LISTENER_TRUSTED_HOSTS": (),
    "LISTENER_MAX_FRAME_BYTES": 1024 * 1024,
}


def _user_settings() -> Mapping[str, Any]:
    value = getattr(settings, "WEBEXTEAMS", None)
    if value is None:
        return {}
    # type() first: a plain dict (the usual case) skips the ABC check, and conf.get() runs
    # several times per webhook delivery.
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ImproperlyConfigured("settings.WEBEXTEAMS must be a dict.")
    return value


def unknown_keys() -> list[str]:
    """Keys in ``WEBEXTEAMS`` that this app does not know (typos, removed settings)."""
    return sorted(k for k in _user_settings() if k not in DEFAULTS)


def get(key: str) -> Any:
    """Return ``WEBEXTEAMS[key]`` or its default.

    Raises ``ImproperlyConfigured`` if ``WEBEXTEAMS`` holds a key this app does not know,
    so a typo such as ``"BOT_TOKN"`` fails loudly instead of silently using the default.
    """
    if key not in DEFAULTS:
        raise KeyError(f"{key!r} is not a WEBEXTEAMS setting")
    user = _user_settings()
    # The receiver reads several settings per delivery: the key check runs once per
    # WEBEXTEAMS object (and size, so a key added in place is still checked), not per call.
    marker = (id(user), len(user))
    if marker != _validated[0]:
        bad = unknown_keys()
        if bad:
            raise ImproperlyConfigured(
                f"Unknown WEBEXTEAMS setting(s): {', '.join(bad)}. "
                f"Known settings: {', '.join(sorted(DEFAULTS))}."
            )
        _validated[0] = marker
    return user.get(key, DEFAULTS[key])


#: (id, len) of the last WEBEXTEAMS mapping found free of unknown keys.
_validated: list[tuple[int, int] | None] = [None]


def _forget_validation(*, setting: str, **kwargs: Any) -> None:
    # override_settings / settings fixtures: the next get() checks the new value. (An object
    # freed and another allocated at the same id would otherwise pass unchecked.)
    if setting == "WEBEXTEAMS":
        _validated[0] = None


setting_changed.connect(_forget_validation, dispatch_uid="webexteams.conf")


def api_base_url() -> str:
    return str(get("API_BASE_URL")).rstrip("/")


def request_timeout() -> tuple[float, float]:
    value = get("REQUEST_TIMEOUT")
    if isinstance(value, int | float):
        return (float(value), float(value))
    connect, read = value
    return (float(connect), float(read))


def oauth_authorize_url() -> str:
    return str(get("OAUTH_AUTHORIZE_URL") or api_base_url() + "/authorize")


def oauth_token_url() -> str:
    return str(get("OAUTH_TOKEN_URL") or api_base_url() + "/access_token")


def encryption_keys() -> list[str]:
    keys = get("ENCRYPTION_KEYS")
    if isinstance(keys, str):
        # Accept a comma-separated string (what an environment variable holds).
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    return list(keys or [])
