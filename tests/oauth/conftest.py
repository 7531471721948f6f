"""Fixtures for the "Log in with Webex" tests: a fake Webex with a registered integration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

CLIENT_ID = "C-test-integration"
CLIENT_SECRET = "test-integration-secret"
TESTSERVER_REDIRECT_URI = "http://testserver/webex/oauth/callback/"


@dataclass
class OAuthEnv:
    fake: Any
    settings: Any

    def token_requests(self) -> int:
        """How many requests reached the fake's token endpoint."""
        return int(self.fake.count("POST", "/v1/access_token"))

    def use_redirect_uri(self, uri: str) -> None:
        self.fake.register_oauth_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=[uri])


@pytest.fixture
def oauth_env(fake_webex: Any, settings: Any) -> OAuthEnv:
    """The fake Webex with our integration registered (redirect URI of the test client) and
    the settings pointing at both."""
    fake_webex.register_oauth_client(
        CLIENT_ID, CLIENT_SECRET, redirect_uris=[TESTSERVER_REDIRECT_URI]
    )
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake_webex.base_url,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "OAUTH_SCOPES": ["spark:people_read", "spark:messages_write"],
        # Short timeouts: an unreachable endpoint fails fast.
        "REQUEST_TIMEOUT": (2.0, 5.0),
    }
    return OAuthEnv(fake=fake_webex, settings=settings)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def authorize_at_fake(authorize_url: str, *, email: str, action: str = "accept") -> str:
    """Do what a user does on the fake's authorize page: submit Accept or Decline.

    Returns the Location the fake redirects the browser to (our callback URL)."""
    values = query_of(authorize_url)
    base = authorize_url.split("?", 1)[0]
    response = requests.post(
        base, data={**values, "email": email, "action": action}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def obtain_user_tokens(
    fake: Any, email: str, *, redirect_uri: str = TESTSERVER_REDIRECT_URI
) -> Any:
    """Real tokens for ``email`` from the fake (an authorization code grant, no views)."""
    from django_webexteams.client.oauth import build_authorize_url, exchange_code

    url = build_authorize_url(
        client_id=CLIENT_ID,
        redirect_uri=redirect_uri,
        scopes=["spark:people_read"],
        state="s",
        base_url=fake.base_url,
    )
    code = query_of(authorize_at_fake(url, email=email))["code"]
    return exchange_code(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=code,
        redirect_uri=redirect_uri,
        base_url=fake.base_url,
    )


@pytest.fixture
def make_user_credential(oauth_env: OAuthEnv) -> Callable[..., Any]:
    """Create a user ``Credential`` holding real fake-Webex tokens for ``email``."""
    from django.contrib.auth import get_user_model

    from django_webexteams.models import Credential
    from django_webexteams.tokens import apply_token_response

    def make(email: str = "alice@example.com", *, expired: bool = False, owner: Any = None) -> Any:
        token = obtain_user_tokens(oauth_env.fake, email)
        if owner is None:
            owner = get_user_model().objects.create_user(username=email, email=email)
        me = _me(oauth_env.fake, token.access_token)
        credential = Credential(
            kind="user", owner=owner, webex_person_id=me["id"], email=email, display_name=email
        )
        apply_token_response(credential, token)
        if expired:
            credential.expires_at = timezone.now() - timedelta(seconds=30)
        credential.save()
        return credential

    return make


def _me(fake: Any, access_token: str) -> dict[str, Any]:
    response = requests.get(
        fake.base_url + "/people/me",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


def revoke_access_token(fake: Any, access_token: str) -> None:
    """Make the fake refuse ``access_token`` with 401 from now on (revoked early at Webex)."""
    revoke = getattr(fake, "revoke_token", None)
    if revoke is not None:
        revoke(access_token)
        return
    with fake.state.lock:
        fake.state.tokens[access_token].revoked = True
