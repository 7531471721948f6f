"""OAuth over plain requests: authorize page, Accept/Decline, code exchange with PKCE, and
refresh-token rotation; tokens expire on the fake's clock."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

REDIRECT = "http://127.0.0.1:8000/webex/oauth/callback/"


@pytest.fixture
def client(fake_webex: Any) -> Any:
    return fake_webex.register_oauth_client("cid", "csecret", [REDIRECT], name="Test App")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def _authorize(
    fake: Any,
    *,
    action: Any = "accept",
    email: Any = "alice@example.com",
    challenge: Any = None,
    redirect: Any = REDIRECT,
    state: Any = "st4te",
) -> dict[str, list[str]]:
    params = {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": redirect,
        "scope": "spark:people_read spark:messages_write",
        "state": state,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = requests.get(fake.authorize_url, params=params, timeout=5)
    assert page.status_code == 200, page.text
    assert page.headers["TrackingID"]
    assert 'value="accept"' in page.text.replace("'", '"')
    assert 'value="decline"' in page.text.replace("'", '"')
    assert "Test App" in page.text and "spark:messages_write" in page.text
    # Submit the form the way a browser would: its hidden fields plus the chosen button.
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    import html

    fields = {k: html.unescape(v) for k, v in fields.items()}
    fields.update(email=email, action=action)
    resp = requests.post(fake.authorize_url, data=fields, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(redirect)
    return parse_qs(urlsplit(location).query)


def _token(fake: Any, **data: Any) -> requests.Response:
    return requests.post(fake.token_url, data=data, timeout=5)


def _exchange(fake: Any, code: str, **extra: Any) -> requests.Response:
    """The authorization_code grant as the registered client "cid" makes it."""
    return _token(
        fake,
        grant_type="authorization_code",
        client_id="cid",
        client_secret="csecret",
        code=code,
        redirect_uri=REDIRECT,
        **extra,
    )


def test_full_flow_with_pkce_and_refresh_rotation(fake_webex: Any, client: Any) -> None:
    alice = fake_webex.add_person("alice@example.com", "Alice")
    verifier, challenge = _pkce()
    query = _authorize(fake_webex, challenge=challenge)
    assert query["state"] == ["st4te"]
    (code,) = query["code"]
    resp = _token(
        fake_webex,
        grant_type="authorization_code",
        client_id="cid",
        client_secret="csecret",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    assert set(tokens) >= {
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
        "token_type",
    }
    me = requests.get(
        fake_webex.base_url + "/people/me",
        timeout=5,
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert me["id"] == alice.id
    # The code is single use.
    again = _token(
        fake_webex,
        grant_type="authorization_code",
        client_id="cid",
        client_secret="csecret",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Refresh rotates: the new pair works, the old refresh token does not.
    refreshed = _token(
        fake_webex,
        grant_type="refresh_token",
        client_id="cid",
        client_secret="csecret",
        refresh_token=tokens["refresh_token"],
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    reuse = _token(
        fake_webex,
        grant_type="refresh_token",
        client_id="cid",
        client_secret="csecret",
        refresh_token=tokens["refresh_token"],
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert reuse.json()["trackingId"] == reuse.headers["TrackingID"]


def test_access_token_expires_on_fake_clock(fake_webex: Any, client: Any) -> None:
    fake_webex.add_person("alice@example.com")
    (code,) = _authorize(fake_webex)["code"]
    tokens = _exchange(fake_webex, code).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        requests.get(fake_webex.base_url + "/people/me", headers=headers, timeout=5).status_code
        == 200
    )
    fake_webex.clock.advance(tokens["expires_in"] + 1)
    assert (
        requests.get(fake_webex.base_url + "/people/me", headers=headers, timeout=5).status_code
        == 401
    )
    # The refresh token still works, until it too expires.
    ok = _token(
        fake_webex,
        grant_type="refresh_token",
        client_id="cid",
        client_secret="csecret",
        refresh_token=tokens["refresh_token"],
    )
    assert ok.status_code == 200
    fake_webex.clock.advance(ok.json()["refresh_token_expires_in"] + 1)
    expired = _token(
        fake_webex,
        grant_type="refresh_token",
        client_id="cid",
        client_secret="csecret",
        refresh_token=ok.json()["refresh_token"],
    )
    assert expired.json()["error"] == "invalid_grant"


def test_decline_redirects_with_access_denied(fake_webex: Any, client: Any) -> None:
    query = _authorize(fake_webex, action="decline")
    assert query == {"error": ["access_denied"], "state": ["st4te"]}


@pytest.mark.parametrize(
    ("change", "error", "status"),
    [
        ({"client_secret": "wrong"}, "invalid_client", 401),
        ({"redirect_uri": REDIRECT + "x"}, "invalid_grant", 400),
        ({"code_verifier": "wrong-verifier"}, "invalid_grant", 400),
        ({"code_verifier": ""}, "invalid_grant", 400),
        ({"grant_type": "password"}, "unsupported_grant_type", 400),
        ({"grant_type": ""}, "invalid_request", 400),
    ],
)
def test_code_exchange_checks(
    fake_webex: Any, client: Any, change: Any, error: Any, status: Any
) -> None:
    verifier, challenge = _pkce()
    (code,) = _authorize(fake_webex, challenge=challenge)["code"]
    data = {
        "grant_type": "authorization_code",
        "client_id": "cid",
        "client_secret": "csecret",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **change,
    }
    resp = _token(fake_webex, **data)
    assert resp.status_code == status
    body = resp.json()
    assert body["error"] == error and body["message"] and body["trackingId"]


def test_expired_code(fake_webex: Any, client: Any) -> None:
    (code,) = _authorize(fake_webex)["code"]
    fake_webex.clock.advance(301)
    resp = _exchange(fake_webex, code)
    assert resp.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "unknown", "redirect_uri": REDIRECT},
        {"client_id": "cid", "redirect_uri": "https://evil.example.com/cb"},
        {"client_id": "cid", "redirect_uri": REDIRECT + "extra"},
    ],
)
def test_unregistered_client_or_redirect_never_redirects(
    fake_webex: Any, client: Any, params: Any
) -> None:
    resp = requests.get(
        fake_webex.authorize_url,
        timeout=5,
        allow_redirects=False,
        params={"response_type": "code", "state": "s", **params},
    )
    assert resp.status_code == 400 and "Location" not in resp.headers
    posted = requests.post(
        fake_webex.authorize_url,
        timeout=5,
        allow_redirects=False,
        data={"action": "accept", "email": "a@example.com", **params},
    )
    assert posted.status_code == 400 and "Location" not in posted.headers


def test_revoked_tokens(fake_webex: Any, client: Any) -> None:
    alice = fake_webex.add_person("alice@example.com")
    (code,) = _authorize(fake_webex)["code"]
    tokens = _exchange(fake_webex, code).json()
    fake_webex.revoke_tokens(alice)
    resp = _token(
        fake_webex,
        grant_type="refresh_token",
        client_id="cid",
        client_secret="csecret",
        refresh_token=tokens["refresh_token"],
    )
    assert resp.json()["error"] == "invalid_grant"


def test_scopes_enforced_when_enabled(fake_webex: Any, client: Any) -> None:
    fake_webex.add_person("alice@example.com")
    (code,) = _authorize(fake_webex)["code"]  # spark:people_read spark:messages_write
    tokens = _exchange(fake_webex, code).json()
    assert tokens["scope"] == "spark:people_read spark:messages_write"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    base = fake_webex.base_url
    assert requests.get(base + "/rooms", headers=headers, timeout=5).status_code == 200
    fake_webex.enforce_scopes = True
    assert requests.get(base + "/people/me", headers=headers, timeout=5).status_code == 200
    denied = requests.get(base + "/rooms", headers=headers, timeout=5)
    assert denied.status_code == 403 and "spark:rooms_read" in denied.text
    # Personal tokens carry every scope.
    admin = fake_webex.add_admin()
    ok = requests.get(
        base + "/licenses", headers={"Authorization": f"Bearer {admin.token}"}, timeout=5
    )
    assert ok.status_code == 200


def test_authorize_page_is_styled_and_says_it_is_the_fake(fake_webex: Any, client: Any) -> None:
    """Issue 15: the page was bare HTML. Styled inline: the fake serves no static files, and
    a page of a test tool must load nothing from the network."""
    params = {"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT,
              "scope": "spark:people_read", "state": "s"}  # fmt: skip
    page = requests.get(fake_webex.authorize_url, params=params, timeout=5).text
    assert "<style>" in page and "name='viewport'" in page
    assert "Fake Webex" in page and "Test App" in page
    assert not re.search(r"<(link|script|img)\b", page)
