"""OAuth 2 helpers for Webex integrations (pure functions, no Django).

Webex: authorize at ``{base}/authorize`` (``response_type=code``, ``scope`` space separated,
``state``, PKCE ``code_challenge`` with ``code_challenge_method=S256``); tokens from
``POST {base}/access_token``, form-encoded, ``grant_type=authorization_code`` or
``refresh_token``. Lifetimes vary: always use the returned ``expires_in`` values.

Nothing here logs; :class:`TokenResponse`'s repr and :class:`OAuthError`'s text never
contain a token, a code or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from django_webexteams import __version__

from .errors import ApiError, MalformedResponseError, TransportError, tracking_id_of
from .transport import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Timeout

__all__ = [
    "OAuthError",
    "TokenResponse",
    "build_authorize_url",
    "exchange_code",
    "generate_pkce_pair",
    "generate_state",
    "refresh_access_token",
]


class OAuthError(ApiError):
    """The token endpoint refused: ``error`` is the OAuth error code (``invalid_grant``,
    ``invalid_client``, ...) when Webex gave one."""

    def __init__(
        self, status_code: int, message: str = "", *, error: str | None = None, **kwargs: Any
    ) -> None:
        self.error = error
        super().__init__(status_code, message, **kwargs)

    def _describe(self) -> str:
        base = super()._describe()
        return f"{base} [oauth error: {self.error}]" if self.error else base


@dataclass(frozen=True)
class TokenResponse:
    """Tokens from ``/access_token``; ``expires_in`` values are seconds from now."""

    access_token: str = field(repr=False)
    expires_in: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_in: int | None = None
    token_type: str | None = None
    scope: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    tracking_id: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"TokenResponse(access_token='<redacted>', expires_in={self.expires_in!r}, "
            f"refresh_token={'<redacted>' if self.refresh_token else None!r}, "
            f"refresh_token_expires_in={self.refresh_token_expires_in!r}, "
            f"token_type={self.token_type!r}, scope={self.scope!r})"
        )

    __str__ = __repr__

    @property
    def scopes(self) -> list[str]:
        return self.scope.split() if self.scope else []


def generate_state() -> str:
    """A random, URL-safe ``state`` value (32 random bytes)."""
    return secrets.token_urlsafe(32)


def generate_pkce_pair() -> tuple[str, str]:
    """``(code_verifier, code_challenge)`` for PKCE S256 (RFC 7636): a 64-character verifier
    and the unpadded base64url SHA-256 of it."""
    verifier = secrets.token_urlsafe(48)  # 64 chars from the unreserved set
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _base(base_url: str | None) -> str:
    return (base_url or DEFAULT_BASE_URL).rstrip("/")


def build_authorize_url(
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str] | str,
    state: str,
    code_challenge: str | None = None,
    authorize_url: str | None = None,
    base_url: str | None = None,
) -> str:
    """The URL to send the user to. ``authorize_url`` defaults to ``{base_url}/authorize``."""
    if not state:
        raise ValueError("state is required (use generate_state())")
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
    }
    if code_challenge:
        query["code_challenge"] = code_challenge
        query["code_challenge_method"] = "S256"
    url = authorize_url or f"{_base(base_url)}/authorize"
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{urlencode(query)}"


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _token_request(
    form: Mapping[str, str],
    *,
    token_url: str | None,
    base_url: str | None,
    session: requests.Session | None,
    timeout: Timeout | None,
) -> TokenResponse:
    url = token_url or f"{_base(base_url)}/access_token"
    http = session or requests.Session()
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    try:
        response = http.post(
            url,
            data=dict(form),  # form-encoded, as Webex requires
            headers={
                "Accept": "application/json",
                "User-Agent": f"django-webexteams/{__version__}",
            },
            timeout=timeout,
            allow_redirects=False,  # never re-post the client secret somewhere else
        )
    except requests.Timeout as exc:
        raise TransportError(
            "Timed out talking to the Webex token endpoint", is_timeout=True
        ) from exc
    except requests.RequestException as exc:
        raise TransportError(
            f"Could not reach the Webex token endpoint: {type(exc).__name__}"
        ) from exc
    finally:
        if session is None:
            http.close()
    if 300 <= response.status_code < 400:
        # SECURITY: never re-post the client secret and code to wherever a redirect points.
        raise OAuthError(
            response.status_code,
            "The token endpoint answered with a redirect; not following it with the client "
            "secret. Check token_url/base_url.",
            tracking_id=tracking_id_of(response),
            response=response,
        )
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    tid = tracking_id_of(response, data)
    if response.status_code >= 400 or not isinstance(data, dict):
        if response.status_code < 400:
            raise MalformedResponseError(
                response.status_code,
                f"Malformed response from the Webex token endpoint (HTTP "
                f"{response.status_code}, tracking id {tid or 'unknown'})",
                tracking_id=tid,
                response=response,
            )
        body = data if isinstance(data, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), str) else None
        message = body.get("error_description") or body.get("message") or response.reason
        errors = body.get("errors") if isinstance(body.get("errors"), list) else None
        raise OAuthError(
            response.status_code,
            str(message or "token request failed"),
            error=error,
            errors=errors,
            tracking_id=tid,
            response=response,
        )
    if not isinstance(data.get("access_token"), str) or not data["access_token"]:
        raise MalformedResponseError(
            response.status_code,
            f"Webex token response without access_token (tracking id {tid or 'unknown'})",
            tracking_id=tid,
            response=response,
        )
    return TokenResponse(
        access_token=data["access_token"],
        expires_in=_as_int(data.get("expires_in")),
        refresh_token=data.get("refresh_token") or None,
        refresh_token_expires_in=_as_int(data.get("refresh_token_expires_in")),
        token_type=data.get("token_type"),
        scope=data.get("scope"),
        raw=data,
        tracking_id=tid,
    )


def exchange_code(
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
    token_url: str | None = None,
    base_url: str | None = None,
    session: requests.Session | None = None,
    timeout: Timeout | None = None,
) -> TokenResponse:
    """Trade an authorization ``code`` for tokens. Raises :class:`OAuthError` (e.g.
    ``.error == "invalid_grant"`` for a used or expired code)."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    return _token_request(
        form, token_url=token_url, base_url=base_url, session=session, timeout=timeout
    )


def refresh_access_token(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    token_url: str | None = None,
    base_url: str | None = None,
    session: requests.Session | None = None,
    timeout: Timeout | None = None,
) -> TokenResponse:
    """Get a new access token. Webex may return a new refresh token: store what comes back.
    A revoked/expired refresh token raises :class:`OAuthError` (``invalid_grant`` or 400/401).
    """
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    return _token_request(
        form, token_url=token_url, base_url=base_url, session=session, timeout=timeout
    )
