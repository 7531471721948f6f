"""Building :class:`~django_webexteams.client.WebexClient` objects from settings and models.

``client_for(None)`` uses ``WEBEXTEAMS["BOT_TOKEN"]``, so a 12-factor deployment that keeps
its bot token in the environment needs no database step.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from django_webexteams import conf

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

logger = logging.getLogger(__name__)

__all__ = [
    "HasClient",
    "bot_token",
    "build_client",
    "client_for",
    "identity_cache_key",
    "person_id_of",
    "rate_limit_key",
    "remember_sender",
    "sender_of",
]


class HasClient(Protocol):
    """What this module needs of a :class:`~django_webexteams.models.Credential`.

    ``models`` imports this module (``Credential.client`` uses :func:`build_client`), so this
    module names the model only by the members it uses, never by an import.
    """

    pk: Any
    access_token: Any
    webex_person_id: Any

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


# How long what Webex told us about a token's identity is kept in the Django cache.
IDENTITY_CACHE_SECONDS = 24 * 3600


def identity_cache_key(credential: HasClient | None, kind: str = "me") -> str:
    """A cache key naming one token at one Webex: the API base URL and the token, by digest.

    Who a token is can only be cached per (base URL, token): the same token string names
    another person at another Webex (staging and production sharing a Redis, a fake Webex
    restarted with a new seed). The key never contains the token (a SHA-256 digest of it).
    ``kind`` separates what is kept: ``"me"`` (people/me) and ``"sender"`` (the ``personId``
    Webex returned for a message this token posted).
    """
    token = str(credential.access_token or "") if credential is not None else bot_token() or ""
    raw = f"{conf.api_base_url()}\n{token}".encode()
    return f"webexteams:{kind}:{hashlib.sha256(raw).hexdigest()[:32]}"


def person_id_of(
    credential: HasClient | None,
    *,
    client: WebexClient | None = None,
    expected: str | None = None,
) -> str:
    """The Webex person id of ``credential``'s token (``None``: the bot token).

    A stored credential knows it (``webex_person_id``). Otherwise it is looked up with
    ``people/me`` and kept in the default cache under :func:`identity_cache_key` (API base
    URL and token, by digest). ``expected`` is what an event says the identity is (a
    delivery's ``createdBy``, who registered the webhook): a cached id that disagrees is
    checked again with ``people/me`` (a token reissued to another bot, a restored or shared
    cache, a fake Webex restarted with new ids; issue 15, a bot answering itself), and the
    disagreement itself is remembered so that a webhook registered by another identity does
    not cost a request per event. If ``people/me`` fails, a cached id still counts; with
    none, the error is raised.
    """
    if credential is not None and credential.webex_person_id:
        return str(credential.webex_person_id)
    cache = caches["default"]
    key = identity_cache_key(credential)
    person_id = cache.get(key)
    if person_id and (not expected or person_id == expected):
        return str(person_id)
    checked = f"{key}:vs:{hashlib.sha256(expected.encode()).hexdigest()[:16]}" if expected else ""
    if person_id and checked and cache.get(checked) == person_id:
        return str(person_id)  # already checked again: the registrant is another identity
    try:
        me = (client or client_for(credential)).people.me()
    except Exception:
        if person_id:  # could not check again: the cached id still counts
            logger.warning("people/me failed; keeping the cached person id")
            return str(person_id)
        raise
    if person_id and person_id != me.id:
        logger.warning("The cached person id of a token was stale; it is now %s", me.id)
    cache.set(key, me.id, IDENTITY_CACHE_SECONDS)
    if checked and me.id != expected:
        cache.set(checked, me.id, IDENTITY_CACHE_SECONDS)
    return str(me.id)


def remember_sender(credential: HasClient | None, person_id: str | None) -> None:
    """Keep the ``personId`` Webex gave a message posted with ``credential`` (``None``: the
    bot token): the loop breaker of ``send_message`` compares events' actors with it. A
    cache error is logged, never raised (the message is sent already)."""
    if not person_id:
        return
    try:
        key = identity_cache_key(credential, "sender")
        caches["default"].set(key, person_id, IDENTITY_CACHE_SECONDS)
    except Exception:
        logger.warning("Could not cache the sender of a posted message", exc_info=True)


def sender_of(credential: HasClient | None) -> str | None:
    """The person id Webex last reported as the sender of a message posted with
    ``credential`` (see :func:`remember_sender`), or ``None`` (unknown, or a cache error)."""
    try:
        value = caches["default"].get(identity_cache_key(credential, "sender"))
    except Exception:
        logger.warning("Could not read the cached sender of posted messages", exc_info=True)
        return None
    return str(value) if value else None
