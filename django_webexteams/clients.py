"""Building :class:`~django_webexteams.client.WebexClient` objects from settings and models.

``client_for(None)`` uses ``WEBEXTEAMS["BOT_TOKEN"]``, so a 12-factor deployment that keeps
its bot token in the environment needs no database step.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from django_webexteams import conf

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

__all__ = ["HasClient", "bot_token", "build_client", "client_for", "rate_limit_key"]


class HasClient(Protocol):
    """What this module needs of a :class:`~django_webexteams.models.Credential`.

    ``models`` imports this module (``Credential.client`` uses :func:`build_client`), so this
    module names the model only by the members it uses, never by an import.
    """

    pk: Any

    def client(self, **kwargs: Any) -> WebexClient: ...


def build_client(access_token: str, **kwargs: Any) -> WebexClient:
    """A ``WebexClient`` for ``access_token`` with ``base_url``, ``timeout`` and
    ``trusted_hosts`` defaulting to the settings (explicit ``kwargs`` win)."""
    # Imported here: the client package is pure Python and imports nothing from Django, and
    # this module must stay importable while models load.
    from django_webexteams.client import WebexClient

    kwargs.setdefault("base_url", conf.api_base_url())
    kwargs.setdefault("timeout", conf.request_timeout())
    kwargs.setdefault("trusted_hosts", tuple(conf.get("TRUSTED_API_HOSTS") or ()))
    return WebexClient(access_token, **kwargs)


def bot_token() -> str | None:
    """``WEBEXTEAMS["BOT_TOKEN"]``, stripped, or ``None`` when unset/blank."""
    token = conf.get("BOT_TOKEN")
    if token is None:
        return None
    token = str(token).strip()
    return token or None


def client_for(credential: HasClient | None = None, **kwargs: Any) -> WebexClient:
    """The client for ``credential``, or for ``WEBEXTEAMS["BOT_TOKEN"]`` when it is ``None``.

    Raises ``ImproperlyConfigured`` when ``credential`` is ``None`` and no bot token is set.
    """
    if credential is not None:
        return credential.client(**kwargs)
    token = bot_token()
    if token is None:
        raise ImproperlyConfigured(
            'No Webex credential was given and WEBEXTEAMS["BOT_TOKEN"] is not set. Set '
            "BOT_TOKEN (e.g. from an environment variable), or pass a Credential (store one "
            "with manage.py webexteams_add_credential)."
        )
    return build_client(token, **kwargs)


def rate_limit_key(credential: HasClient | None) -> str:
    """A stable key naming the identity whose Webex rate limit a request counts against.

    Webex rate-limits per token holder, so workers sharing a gate must agree on the key. It
    never contains the token: stored credentials are named by primary key, the settings bot
    by a truncated SHA-256 of its token (tokens are long random strings, so the digest
    reveals nothing usable).
    """
    if credential is not None:
        return f"webexteams:cred:{credential.pk}"
    token = bot_token() or ""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return f"webexteams:bot:{digest}"
