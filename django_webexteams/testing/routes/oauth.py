"""OAuth for integrations: the /authorize page (Accept/Decline) and /access_token.

Security choices mirror Webex and RFC 6749/7636: an unknown client or a redirect URI that is
not registered byte for byte gets an error page and is never redirected to; codes are single
use and short lived; PKCE S256 is checked when a challenge was given; refresh rotates the
refresh token and the old one stops working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import WebexError
from ..http import Response
from ..state import AuthCode, OAuthClient, RefreshToken
from . import router
from .base import Ctx

CODE_LIFETIME = 300.0


def _redirect(uri: str, params: dict[str, str]) -> Response:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return Response(302, b"", {"Location": location}, content_type="text/plain")


# A plain card, close enough to Webex's consent page that a newcomer knows where they are;
# inline (the fake serves no static files) and without any external resource.
_STYLE = (
    "<meta name='viewport' content='width=device-width, initial-scale=1'><style>"
    "body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;"
    "background:#f2f4f7;color:#1f2328;font:16px/1.5 system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif}"
    "main{background:#fff;max-width:28rem;width:calc(100% - 2rem);padding:2rem;"
    "border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}"
    "h1{font-size:1.25rem;margin:0 0 1rem}"
    ".fake{display:inline-block;font-size:.75rem;font-weight:600;letter-spacing:.04em;"
    "text-transform:uppercase;color:#7a4d00;background:#fff4d6;border-radius:4px;"
    "padding:.1rem .5rem;margin-bottom:.75rem}"
    "ul{padding-left:1.25rem;color:#57606a}label{display:block;margin:1rem 0}"
    "input[type=email]{display:block;width:100%;box-sizing:border-box;margin-top:.25rem;"
    "padding:.5rem .75rem;border:1px solid #d0d7de;border-radius:6px;font:inherit}"
    "button{font:inherit;padding:.5rem 1.25rem;border-radius:20px;border:1px solid #d0d7de;"
    "background:#fff;cursor:pointer;margin-right:.5rem}"
    "button#accept{background:#0070d2;border-color:#0070d2;color:#fff}"
    "</style>"
)


def _page(status: int, title: str, body: str) -> Response:
    doc = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{_STYLE}</head><body><main>"
        "<span class='fake'>Fake Webex: tokens work only here</span>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return Response(status, doc, {}, content_type="text/html; charset=utf-8")


def _client_and_redirect(ctx: Ctx, values: dict[str, str]) -> tuple[OAuthClient, str] | Response:
    client = ctx.state.oauth_clients.get(values.get("client_id", ""))
    if client is None:
        return _page(400, "Invalid client", "<p>The client_id is not registered.</p>")
    redirect_uri = values.get("redirect_uri", "")
    # Exact match only: a prefix or "similar" URI would let an attacker steal the code.
    if redirect_uri not in client.redirect_uris:
        return _page(400, "Invalid redirect URI", "<p>The redirect_uri is not registered.</p>")
    return client, redirect_uri


def _flatten(query: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in query.items() if v}


@router.route("GET", "/authorize", auth=False, spec_path="")
def authorize_page(ctx: Ctx) -> Any:
    values = _flatten(ctx.req.query)
    checked = _client_and_redirect(ctx, values)
    if isinstance(checked, Response):
        return checked
    client, redirect_uri = checked
    state = values.get("state", "")
    if values.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
    method = values.get("code_challenge_method")
    if values.get("code_challenge") and method not in (None, "S256", "plain"):
        return _redirect(redirect_uri, {"error": "invalid_request", "state": state})
    default_email = ctx.fake.oauth_default_email or next(
        (p.email for p in ctx.state.people.values() if p.type == "person" and p.token), ""
    )
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in values.items()
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in values.get("scope", "").split())
    body = (
        f"<p><strong>{html.escape(client.name)}</strong> would like to access your Webex "
        f"account.</p><ul id='scopes'>{scopes}</ul>"
        f"<form method='post' action='{html.escape(ctx.req.base_url)}/authorize'>{hidden}"
        "<label>Signed in as <input type='email' name='email' id='email' "
        f"value='{html.escape(default_email)}'></label>"
        "<button type='submit' name='action' value='accept' id='accept'>Accept</button>"
        "<button type='submit' name='action' value='decline' id='decline'>Decline</button>"
        "</form>"
    )
    return _page(200, "Webex (fake): authorize integration", body)


@router.route("POST", "/authorize", auth=False, spec_path="")
def authorize_submit(ctx: Ctx) -> Any:
    values = _flatten(ctx.req.form())
    checked = _client_and_redirect(ctx, values)
    if isinstance(checked, Response):
        return checked
    client, redirect_uri = checked
    state = values.get("state", "")
    if values.get("action") != "accept":
        return _redirect(redirect_uri, {"error": "access_denied", "state": state})
    email = values.get("email", "").strip()
    if "@" not in email:
        return _page(400, "E-mail required", "<p>Enter the e-mail address to sign in as.</p>")
    person = ctx.state.person_by_email(email) or ctx.state.create_person(email, with_token=False)
    code = AuthCode(
        code=secrets.token_urlsafe(32),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        person_id=person.id,
        scopes=values.get("scope", "").split(),
        expires_at=ctx.state.clock.time() + CODE_LIFETIME,
        code_challenge=values.get("code_challenge") or None,
        code_challenge_method=values.get("code_challenge_method") or None,
    )
    ctx.state.auth_codes[code.code] = code
    return _redirect(redirect_uri, {"code": code.code, "state": state})


def _oauth_error(status: int, error: str, description: str) -> WebexError:
    # Webex's error body plus the RFC 6749 "error" fields, which OAuth clients look for.
    return WebexError(status, description, extra={"error": error, "error_description": description})


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if code.code_challenge is None:
        return
    if not verifier:
        raise _oauth_error(400, "invalid_grant", "code_verifier is required.")
    if code.code_challenge_method == "plain":
        expected = verifier
    else:
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    if not hmac.compare_digest(expected, code.code_challenge):
        raise _oauth_error(400, "invalid_grant", "code_verifier does not match.")


def _issue(ctx: Ctx, client: OAuthClient, person_id: str, scopes: list[str]) -> dict[str, Any]:
    person = ctx.state.people[person_id]
    fake = ctx.fake
    token = ctx.state.issue_token(
        person, lifetime=fake.access_token_lifetime, scopes=scopes, client_id=client.client_id
    )
    refresh = RefreshToken(
        value=secrets.token_urlsafe(48),
        client_id=client.client_id,
        person_id=person.id,
        scopes=scopes,
        expires_at=ctx.state.clock.time() + fake.refresh_token_lifetime,
    )
    ctx.state.refresh_tokens[refresh.value] = refresh
    return {
        "access_token": token.value,
        "expires_in": int(fake.access_token_lifetime),
        "refresh_token": refresh.value,
        "refresh_token_expires_in": int(fake.refresh_token_lifetime),
        "token_type": "Bearer",
        "scope": " ".join(scopes),
    }


@router.route("POST", "/access_token", auth=False, spec_path="")
def access_token(ctx: Ctx) -> Any:
    data = {k: v for k, v in ctx.req.json().items() if isinstance(v, str)}
    grant = data.get("grant_type")
    if not grant:
        raise _oauth_error(400, "invalid_request", "grant_type is required.")
    client = ctx.state.oauth_clients.get(data.get("client_id", ""))
    # Constant-time comparison of the client secret.
    if client is None or not hmac.compare_digest(
        data.get("client_secret", "").encode(), client.client_secret.encode()
    ):
        raise _oauth_error(401, "invalid_client", "Invalid client credentials.")
    now = ctx.state.clock.time()
    if grant == "authorization_code":
        code = ctx.state.auth_codes.get(data.get("code", ""))
        if (
            code is None
            or code.used
            or code.expires_at <= now
            or code.client_id != (client.client_id)
        ):
            raise _oauth_error(400, "invalid_grant", "The authorization code is invalid.")
        if data.get("redirect_uri") != code.redirect_uri:
            raise _oauth_error(400, "invalid_grant", "redirect_uri does not match.")
        _check_pkce(code, data.get("code_verifier"))
        code.used = True  # single use, also when a later step fails
        return Response(200, _issue(ctx, client, code.person_id, code.scopes))
    if grant == "refresh_token":
        old = ctx.state.refresh_tokens.get(data.get("refresh_token", ""))
        if (
            old is None
            or old.revoked
            or old.expires_at <= now
            or old.client_id != (client.client_id)
        ):
            raise _oauth_error(400, "invalid_grant", "The refresh token is invalid or expired.")
        if old.person_id not in ctx.state.people:
            raise _oauth_error(400, "invalid_grant", "The user no longer exists.")
        old.revoked = True  # rotation: the old refresh token stops working
        return Response(200, _issue(ctx, client, old.person_id, old.scopes))
    raise _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant!r}.")
