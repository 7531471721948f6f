"""OAuth helpers: authorize URL with state + PKCE S256, code exchange, refresh, errors."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from django_webexteams.client import MalformedResponseError, TransportError
from django_webexteams.client.oauth import (
    OAuthError,
    TokenResponse,
    build_authorize_url,
    exchange_code,
    generate_pkce_pair,
    generate_state,
    refresh_access_token,
)

TOKEN_URL = "https://webexapis.com/v1/access_token"
TOKENS = {
    "access_token": "ACCESS-abc",
    "expires_in": 1209600,
    "refresh_token": "REFRESH-xyz",
    "refresh_token_expires_in": 7776000,
    "token_type": "Bearer",
    "scope": "spark:people_read spark:messages_write",
}


def test_state_and_pkce() -> None:
    assert generate_state() != generate_state() and len(generate_state()) >= 43
    verifier, challenge = generate_pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge == expected.rstrip(b"=").decode()
    # RFC 7636 appendix B vector
    from django_webexteams.client.oauth import pkce_challenge

    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_authorize_url() -> None:
    url = build_authorize_url(
        client_id="C",
        redirect_uri="https://app.example/cb",
        scopes=["spark:people_read", "spark:messages_write"],
        state="S1",
        code_challenge="CH",
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://webexapis.com/v1/authorize"
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["C"],
        "redirect_uri": ["https://app.example/cb"],
        "scope": ["spark:people_read spark:messages_write"],
        "state": ["S1"],
        "code_challenge": ["CH"],
        "code_challenge_method": ["S256"],
    }
    assert "%20" in url or "+" in url  # space separated scopes, encoded


def test_authorize_url_bases() -> None:
    url = build_authorize_url(
        client_id="C",
        redirect_uri="r",
        scopes="spark:all",
        state="S",
        base_url="http://127.0.0.1:8900/v1/",
    )
    assert url.startswith("http://127.0.0.1:8900/v1/authorize?")
    assert "code_challenge" not in url
    url = build_authorize_url(
        client_id="C",
        redirect_uri="r",
        scopes="x",
        state="S",
        authorize_url="https://idp.example/auth?tenant=1",
    )
    assert url.startswith("https://idp.example/auth?tenant=1&response_type=code")
    with pytest.raises(ValueError):
        build_authorize_url(client_id="C", redirect_uri="r", scopes="x", state="")


@responses.activate
def test_exchange_code_form_encoded() -> None:
    responses.post(TOKEN_URL, json=TOKENS, headers={"TrackingID": "ROUTER_O"})
    tokens = exchange_code(
        client_id="C",
        client_secret="CS",
        code="CODE",
        redirect_uri="https://app.example/cb",
        code_verifier="V",
    )
    assert tokens.access_token == "ACCESS-abc" and tokens.refresh_token == "REFRESH-xyz"
    assert tokens.expires_in == 1209600 and tokens.refresh_token_expires_in == 7776000
    assert tokens.scopes == ["spark:people_read", "spark:messages_write"]
    assert tokens.tracking_id == "ROUTER_O" and tokens.raw == TOKENS
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(str(request.body)) == {
        "grant_type": ["authorization_code"],
        "client_id": ["C"],
        "client_secret": ["CS"],
        "code": ["CODE"],
        "redirect_uri": ["https://app.example/cb"],
        "code_verifier": ["V"],
    }
    assert "Authorization" not in request.headers


@responses.activate
def test_refresh_with_custom_token_url_and_session() -> None:
    responses.post("http://127.0.0.1:8900/v1/access_token", json=TOKENS)
    with requests.Session() as session:
        tokens = refresh_access_token(
            client_id="C",
            client_secret="CS",
            refresh_token="R",
            base_url="http://127.0.0.1:8900/v1",
            session=session,
            timeout=3,
        )
    assert tokens.access_token == "ACCESS-abc"
    assert parse_qs(str(responses.calls[0].request.body)) == {
        "grant_type": ["refresh_token"],
        "client_id": ["C"],
        "client_secret": ["CS"],
        "refresh_token": ["R"],
    }


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "refresh token revoked"},
            "invalid_grant",
            "refresh token revoked",
        ),
        (
            401,
            {
                "message": "Invalid client",
                "errors": [{"description": "bad secret"}],
                "trackingId": "ROUTER_E",
            },
            None,
            "Invalid client",
        ),
        (500, None, None, "Internal Server Error"),
    ],
)
def test_token_errors(status: int, body: object, error: str | None, text: str) -> None:
    if body is None:
        responses.post(TOKEN_URL, status=status, body="<html>")
    else:
        responses.post(TOKEN_URL, status=status, json=body)
    with pytest.raises(OAuthError) as info:
        refresh_access_token(client_id="C", client_secret="CS", refresh_token="R-SECRET")
    assert info.value.status_code == status and info.value.error == error
    assert text in str(info.value)
    assert "R-SECRET" not in str(info.value) and "CS" not in str(info.value).split()


@responses.activate
def test_token_malformed_and_transport_errors() -> None:
    responses.post(TOKEN_URL, body="not json", status=200)
    with pytest.raises(MalformedResponseError):
        exchange_code(client_id="C", client_secret="S", code="X", redirect_uri="r")
    responses.replace(responses.POST, TOKEN_URL, json={"token_type": "Bearer"})
    with pytest.raises(MalformedResponseError):
        exchange_code(client_id="C", client_secret="S", code="X", redirect_uri="r")
    responses.replace(responses.POST, TOKEN_URL, body=requests.ConnectTimeout("x"))
    with pytest.raises(TransportError) as info:
        exchange_code(client_id="C", client_secret="S", code="X", redirect_uri="r")
    assert info.value.is_timeout


@responses.activate
def test_token_endpoint_redirect_is_not_followed() -> None:
    responses.post(TOKEN_URL, status=307, headers={"Location": "https://evil.example/t"})
    responses.post("https://evil.example/t", json=TOKENS)
    with pytest.raises(OAuthError):
        exchange_code(client_id="C", client_secret="S", code="X", redirect_uri="r")
    assert len(responses.calls) == 1


def test_token_response_repr_redacts() -> None:
    tokens = TokenResponse(
        access_token="ACCESS-abc", refresh_token="REFRESH-xyz", expires_in=10, raw=dict(TOKENS)
    )
    for text in (repr(tokens), str(tokens), f"{tokens}"):
        assert "ACCESS-abc" not in text and "REFRESH-xyz" not in text
        assert "<redacted>" in text
