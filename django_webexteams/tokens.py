"""Keeping OAuth access tokens valid: refresh ahead of expiry, under a row lock.

Webex integration tokens expire (access tokens after days, refresh tokens after weeks; the
lifetimes vary, so the values returned by the token endpoint are always used). This module is
the one place that spends a refresh token:

- :func:`get_valid_access_token` returns a token that is valid for at least
  ``WEBEXTEAMS["TOKEN_REFRESH_MARGIN"]`` more seconds, refreshing it first when needed.
- The refresh runs inside ``transaction.atomic()`` with ``SELECT ... FOR UPDATE`` on the
  credential row and *re-reads the row after taking the lock*: when two workers (threads,
  processes, hosts) find the same expired token, the second one waits for the first, then sees
  the fresh token and does not refresh again. A refresh token is therefore never spent twice
  (Webex may rotate it: spending the old one a second time would fail and revoke the
  credential for nothing).
- A refresh token Webex rejects (``invalid_grant`` and friends) marks the credential inactive
  and sends :data:`~django_webexteams.signals.credential_revoked`; the user must connect again.
  A transient failure (timeout, 5xx, 429) only records ``last_error``.
- Success sends :data:`~django_webexteams.signals.credential_refreshed`.

Only credentials of kind ``user`` with a refresh token are refreshed; bot tokens are returned
as stored. Nothing here logs or raises with a token in the text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from django.db import transaction
from django.utils import timezone

from django_webexteams import conf, signals

if TYPE_CHECKING:
    from django_webexteams.client.oauth import TokenResponse

__all__ = [
    "CredentialInactiveError",
    "TokenError",
    "TokenRefreshError",
    "apply_token_response",
    "get_valid_access_token",
    "needs_refresh",
    "refresh_after_unauthorized",
    "refresh_credential",
    "unauthorized_hook",
]


class Credential(Protocol):
    """What this module needs of a :class:`django_webexteams.models.Credential`.

    ``models`` imports this module (``Credential.current_access_token`` and
    ``Credential.client`` hand out tokens through it), so this module names the model only by
    the members it uses, never by an import; the row lock and the signals' ``sender`` take
    the model class from the instance (``_meta.concrete_model``).
    """

    pk: Any
    kind: str
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    scopes: Any
    is_active: bool
    last_refreshed_at: datetime | None
    last_error: str
    _state: Any
    _meta: ClassVar[Any]

    def save(self, *args: Any, **kwargs: Any) -> None: ...


logger = logging.getLogger(__name__)

# OAuth error codes (RFC 6749 section 5.2) that mean "this refresh token will never work
# again": the user revoked the integration, the token expired or was already spent. Anything
# else (server errors, timeouts, rate limits) is treated as transient.
_REVOKED_ERRORS = frozenset({"invalid_grant", "invalid_token", "unauthorized_client"})

# Fields copied back to the caller's instance after a refresh (the row is the truth).
_TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "expires_at",
    "refresh_expires_at",
    "scopes",
    "is_active",
    "last_refreshed_at",
    "last_error",
)


class TokenError(Exception):
    """Base class: no valid access token could be produced for a credential."""


class CredentialInactiveError(TokenError):
    """The credential is inactive (Webex rejected its refresh token, or staff disabled it).

    The user must log in with Webex again to reconnect."""


class TokenRefreshError(TokenError):
    """The refresh failed for a transient reason (Webex down, timeout, rate limit) and the
    stored access token has already expired. Retry later."""


def _margin(margin: float | None) -> timedelta:
    if margin is None:
        margin = float(conf.get("TOKEN_REFRESH_MARGIN") or 0)
    return timedelta(seconds=max(0.0, float(margin)))


def _refreshable(credential: Credential) -> bool:
    return credential.kind == "user" and bool(credential.refresh_token)


def needs_refresh(
    credential: Credential, *, margin: float | None = None, now: datetime | None = None
) -> bool:
    """Whether ``credential``'s access token expires within ``margin`` seconds (default
    ``TOKEN_REFRESH_MARGIN``) and can be refreshed. An unknown expiry never refreshes."""
    if not _refreshable(credential) or credential.expires_at is None:
        return False
    now = now or timezone.now()
    return credential.expires_at <= now + _margin(margin)


def _copy_token_fields(source: Credential, target: Credential) -> None:
    if source is target:
        return
    for name in _TOKEN_FIELDS:
        setattr(target, name, getattr(source, name))


def apply_token_response(
    credential: Credential, token: TokenResponse, *, now: datetime | None = None
) -> None:
    """Store a token endpoint answer on ``credential`` (not saved).

    A rotated refresh token replaces the old one; when Webex sends none, the old one stays
    (it remains valid). Expiry times come from the answer: Webex lifetimes vary.
    """
    now = now or timezone.now()
    credential.access_token = token.access_token
    if token.refresh_token:
        credential.refresh_token = token.refresh_token
    credential.expires_at = (
        now + timedelta(seconds=int(token.expires_in)) if token.expires_in else None
    )
    if token.refresh_token_expires_in:
        credential.refresh_expires_at = now + timedelta(seconds=int(token.refresh_token_expires_in))
    if token.scope:
        # Webex returns the granted scopes space separated; they may be fewer than asked for.
        credential.scopes = sorted(set(str(token.scope).split()))
    credential.last_refreshed_at = now
    credential.last_error = ""
    credential.is_active = True


def _call_token_endpoint(refresh_token: str) -> TokenResponse:
    from django_webexteams.client.oauth import refresh_access_token

    return refresh_access_token(
        client_id=str(conf.get("CLIENT_ID") or ""),
        client_secret=str(conf.get("CLIENT_SECRET") or ""),
        refresh_token=refresh_token,
        token_url=conf.oauth_token_url(),
        timeout=conf.request_timeout(),
    )


def _is_revocation(exc: Exception) -> bool:
    """Whether the token endpoint said the refresh token is dead for good."""
    from django_webexteams.client import ApiError

    code = getattr(exc, "error", None)
    if isinstance(code, str) and code:
        return code in _REVOKED_ERRORS
    # An OAuth error without an error code: a 400/401 from the token endpoint still means the
    # grant was refused (RFC 6749 section 5.2); 5xx/429 are transient.
    return isinstance(exc, ApiError) and exc.status_code in (400, 401)


def _describe(exc: Exception) -> str:
    # Error texts from the client never contain tokens (client contract); keep them short.
    code = getattr(exc, "error", None)
    text = f"{type(exc).__name__}: {exc}"
    if code and str(code) not in text:
        text = f"{text} ({code})"
    return text[:1000]


def _refresh_locked(
    credential: Credential,
    *,
    should_refresh: Callable[[Credential], bool],
) -> tuple[Credential, str | None, Exception | None]:
    """Refresh under the row lock when ``should_refresh(locked_row)`` says so.

    Returns ``(row, outcome, error)``; outcome is ``"refreshed"``, ``"revoked"``, ``"failed"``
    or ``None`` (nothing to do: another worker refreshed while we waited for the lock).
    """
    from django_webexteams.client import WebexError

    model = credential._meta.concrete_model  # models.Credential (see the Credential protocol)
    with transaction.atomic(using=credential._state.db):
        # Security/concurrency: take the lock, then decide on the row we just read, never on
        # the caller's (possibly stale) instance. A second worker blocks here until the first
        # commits, then sees the new expiry and returns without spending the refresh token.
        row: Credential = (
            model._default_manager.using(credential._state.db)
            .select_for_update()
            .get(pk=credential.pk)
        )
        if not row.is_active:
            return row, None, None
        if not _refreshable(row) or not should_refresh(row):
            return row, None, None
        try:
            # The HTTP call runs while the lock is held, on purpose: that is what serialises
            # refreshes. REQUEST_TIMEOUT bounds how long other workers wait.
            answer = _call_token_endpoint(row.refresh_token)
        except WebexError as exc:
            if _is_revocation(exc):
                row.is_active = False
                row.last_error = _describe(exc)
                row.save(update_fields=["is_active", "last_error", "updated_at"])
                return row, "revoked", exc
            row.last_error = _describe(exc)
            row.save(update_fields=["last_error", "updated_at"])
            return row, "failed", exc
        apply_token_response(row, answer)
        row.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "expires_at",
                "refresh_expires_at",
                "scopes",
                "last_refreshed_at",
                "last_error",
                "is_active",
                "updated_at",
            ]
        )
        return row, "refreshed", None


def _finish(credential: Credential, row: Credential, outcome: str | None) -> None:
    """Copy the row back to the caller's instance and send the signal (after the lock's
    transaction ended, so receivers see committed data when we were not nested)."""
    model = credential._meta.concrete_model  # models.Credential (see the Credential protocol)
    _copy_token_fields(row, credential)
    if outcome == "refreshed":
        logger.info("Refreshed the Webex access token of credential %s", credential.pk)
        signals.credential_refreshed.send(sender=model, credential=credential)
    elif outcome == "revoked":
        logger.warning(
            "Webex rejected the refresh token of credential %s; marked inactive", credential.pk
        )
        signals.credential_revoked.send(sender=model, credential=credential)
    elif outcome == "failed":
        logger.warning(
            "Refreshing the Webex token of credential %s failed: %s",
            credential.pk,
            credential.last_error,
        )


def refresh_credential(
    credential: Credential, *, force: bool = False, margin: float | None = None
) -> str | None:
    """Refresh ``credential`` if it needs it (or always, with ``force``), under the row lock.

    Returns ``"refreshed"``, ``"revoked"``, ``"failed"`` or ``None`` (nothing was done).
    Never raises for a Webex failure: the outcome says what happened and ``last_error``
    why. ``credential`` is updated in place.
    """

    def should(row: Credential) -> bool:
        return force or needs_refresh(row, margin=margin)

    row, outcome, _error = _refresh_locked(credential, should_refresh=should)
    _finish(credential, row, outcome)
    return outcome


def get_valid_access_token(credential: Credential, *, margin: float | None = None) -> str:
    """A usable access token for ``credential``, refreshed first when it expires within
    ``margin`` seconds (default ``WEBEXTEAMS["TOKEN_REFRESH_MARGIN"]``).

    Bot credentials and user credentials without a refresh token are returned as stored.
    Raises :class:`CredentialInactiveError` for an inactive credential of either kind
    (including one whose refresh token Webex just rejected), and :class:`TokenRefreshError`
    when a transient failure left us with an already expired token. When the refresh fails
    transiently but the old token is still valid (we refresh ahead of expiry), the old token
    is returned.
    """
    if not credential.is_active:
        # Security: "active" is the kill switch staff use for a leaked or retired token, bots
        # included; an inactive credential is never used (fail closed), whatever its kind.
        if credential.kind == "user":
            raise CredentialInactiveError(
                f"Webex credential {credential.pk} is inactive; the user must log in with "
                "Webex again."
            )
        raise CredentialInactiveError(
            f"Webex credential {credential.pk} is inactive (disabled by staff); activate it "
            "again in the admin, or store a new token with manage.py webexteams_add_credential."
        )
    # Fast path without a lock or a transaction: the common case is a fresh token.
    if not needs_refresh(credential, margin=margin):
        return str(credential.access_token)
    row, outcome, error = _refresh_locked(
        credential, should_refresh=lambda r: needs_refresh(r, margin=margin)
    )
    _finish(credential, row, outcome)
    if not credential.is_active:
        raise CredentialInactiveError(
            f"Webex rejected the refresh token of credential {credential.pk}; the user must "
            "log in with Webex again."
        ) from error
    if outcome == "failed" and credential.expires_at and credential.expires_at <= timezone.now():
        raise TokenRefreshError(
            f"Could not refresh the expired Webex token of credential {credential.pk}: "
            f"{credential.last_error}"
        ) from error
    return str(credential.access_token)


def refresh_after_unauthorized(credential: Credential, rejected_token: str) -> str | None:
    """Webex answered 401 to ``rejected_token``: refresh once, unless another worker already
    replaced that token (then use theirs). Returns the new token, or ``None`` when there is
    nothing better to try (no refresh token, revoked, transient failure)."""
    if not _refreshable(credential) or not credential.is_active:
        return None

    def should(row: Credential) -> bool:
        # Compare on the locked row: if the stored token differs, someone refreshed already
        # and their token is the one to retry with; only refresh the very token Webex refused.
        return bool(row.access_token == rejected_token)

    row, outcome, _error = _refresh_locked(credential, should_refresh=should)
    _finish(credential, row, outcome)
    if not credential.is_active or outcome == "failed":
        return None
    token = str(credential.access_token)
    return token if token and token != rejected_token else None


def unauthorized_hook(credential: Credential, token: str) -> Callable[[], str | None]:
    """The ``on_unauthorized`` callable for a client built with ``token``.

    The client calls it once per request that got a 401 and retries that request once with
    the token it returns. It never returns the token that was just refused, so a token Webex
    keeps refusing cannot cause a loop. Failures are swallowed (the client then raises the
    original ``UnauthorizedError``); they are recorded on the credential.
    """
    current = {"token": token}

    def hook() -> str | None:
        try:
            new = refresh_after_unauthorized(credential, current["token"])
        except Exception:  # never turn a 401 into an unrelated crash (e.g. DB down)
            logger.exception("Refreshing credential %s after a 401 failed", credential.pk)
            return None
        if new is None or new == current["token"]:
            return None
        current["token"] = new
        return new

    return hook


def client_kwargs(credential: Credential, token: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` for ``WebexClient`` with the refresh-on-401 hook added for refreshable user
    credentials (an explicit ``on_unauthorized`` wins)."""
    if _refreshable(credential) and "on_unauthorized" not in kwargs:
        kwargs = {**kwargs, "on_unauthorized": unauthorized_hook(credential, token)}
    return kwargs
