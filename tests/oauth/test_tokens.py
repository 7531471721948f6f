"""tokens.py against the fake Webex's token endpoint: refresh, rotation, revocation, 401."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from django_webexteams import signals, tokens
from django_webexteams.models import Credential
from tests.oauth.conftest import OAuthEnv, revoke_access_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent() -> Any:
    """Signals sent during the test: {"refreshed": [...], "revoked": [...]}."""
    log: dict[str, list[Any]] = {"refreshed": [], "revoked": []}

    def on_refreshed(sender: Any, credential: Any, **kw: Any) -> None:
        log["refreshed"].append(credential.pk)

    def on_revoked(sender: Any, credential: Any, **kw: Any) -> None:
        log["revoked"].append(credential.pk)

    signals.credential_refreshed.connect(on_refreshed)
    signals.credential_revoked.connect(on_revoked)
    yield log
    signals.credential_refreshed.disconnect(on_refreshed)
    signals.credential_revoked.disconnect(on_revoked)


def test_fresh_token_is_returned_without_refresh(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    credential = make_user_credential()
    before = oauth_env.token_requests()
    assert tokens.get_valid_access_token(credential) == credential.access_token
    assert oauth_env.token_requests() == before
    assert sent["refreshed"] == []


def test_expired_token_is_refreshed_and_rotated_refresh_token_stored(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    credential = make_user_credential(expired=True)
    old_access, old_refresh = credential.access_token, credential.refresh_token
    before = oauth_env.token_requests()

    token = tokens.get_valid_access_token(credential)

    assert oauth_env.token_requests() == before + 1
    assert token != old_access
    row = Credential.objects.get(pk=credential.pk)
    assert row.access_token == token == credential.access_token
    assert row.refresh_token != old_refresh  # the fake rotates refresh tokens
    assert row.expires_at is not None and row.expires_at > timezone.now()
    assert row.last_refreshed_at is not None and row.is_active
    assert sent["refreshed"] == [credential.pk]
    # The new token works at Webex.
    assert row.client().people.me().id == credential.webex_person_id
    # The second call is served from the row: no new refresh.
    assert tokens.get_valid_access_token(row) == token
    assert oauth_env.token_requests() == before + 1


def test_token_inside_the_margin_is_refreshed_ahead_of_expiry(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any]
) -> None:
    credential = make_user_credential()
    credential.expires_at = timezone.now() + timedelta(seconds=60)  # margin defaults to 300
    credential.save()
    old = credential.access_token
    assert tokens.get_valid_access_token(credential) != old


def test_revoked_refresh_token_marks_inactive_and_signals(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    credential = make_user_credential(expired=True)
    credential.refresh_token = "revoked-or-unknown-refresh-token"
    credential.save()

    with pytest.raises(tokens.CredentialInactiveError):
        tokens.get_valid_access_token(credential)

    row = Credential.objects.get(pk=credential.pk)
    assert row.is_active is False
    assert "invalid_grant" in row.last_error
    assert "revoked-or-unknown" not in row.last_error  # never a token in an error text
    assert sent["revoked"] == [credential.pk]
    assert sent["refreshed"] == []
    # Inactive: no more calls to the token endpoint.
    before = oauth_env.token_requests()
    with pytest.raises(tokens.CredentialInactiveError):
        tokens.get_valid_access_token(row)
    assert oauth_env.token_requests() == before


def test_stale_instance_uses_the_row_refreshed_meanwhile(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    """The decision is taken on the row re-read under the lock, never on the caller's copy:
    an old in-memory instance does not spend the (rotated, now dead) refresh token."""
    credential = make_user_credential(expired=True)
    stale = Credential.objects.get(pk=credential.pk)
    before = oauth_env.token_requests()
    new_token = tokens.get_valid_access_token(credential)
    assert tokens.get_valid_access_token(stale) == new_token
    assert stale.refresh_token == credential.refresh_token
    assert oauth_env.token_requests() == before + 1
    assert sent["revoked"] == [] and sent["refreshed"] == [credential.pk]


def test_transient_failure_keeps_the_still_valid_token(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    credential = make_user_credential()
    credential.expires_at = timezone.now() + timedelta(seconds=60)
    credential.save()
    old = credential.access_token
    oauth_env.fake.fail_next(503, path="/access_token")
    assert tokens.get_valid_access_token(credential) == old
    row = Credential.objects.get(pk=credential.pk)
    assert row.is_active and "503" in row.last_error
    assert sent["revoked"] == [] and sent["refreshed"] == []


def test_transient_failure_with_an_expired_token_raises(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any]
) -> None:
    credential = make_user_credential(expired=True)
    oauth_env.settings.WEBEXTEAMS = {
        **oauth_env.settings.WEBEXTEAMS,
        "OAUTH_TOKEN_URL": "http://127.0.0.1:9/v1/access_token",
    }
    with pytest.raises(tokens.TokenRefreshError):
        tokens.get_valid_access_token(credential)
    assert Credential.objects.get(pk=credential.pk).is_active


def test_bot_credentials_are_never_refreshed(oauth_env: OAuthEnv) -> None:
    credential = Credential.objects.create(
        kind="bot", access_token="bot-token", expires_at=timezone.now() - timedelta(days=1)
    )
    assert tokens.get_valid_access_token(credential) == "bot-token"
    assert oauth_env.token_requests() == 0


def test_a_disabled_bot_credential_is_never_used(oauth_env: OAuthEnv) -> None:
    """Attack: a bot token leaked, and staff untick "active" on its credential as the kill
    switch while they get a new token. Nothing may go on using the disabled credential: no
    client is built for it and a queued message fails without reaching Webex."""
    from django_webexteams import messaging
    from django_webexteams.models import OutboundMessage

    bot = oauth_env.fake.add_bot("Leaky Bot")
    room = oauth_env.fake.create_room(bot, "Ops")
    credential = Credential.objects.create(
        kind="bot", access_token=bot.token, webex_person_id=bot.id, is_active=False
    )
    with pytest.raises(tokens.CredentialInactiveError):
        tokens.get_valid_access_token(credential)
    with pytest.raises(tokens.CredentialInactiveError):
        credential.client()
    row = OutboundMessage.objects.create(credential=credential, room_id=room.id, text="hi")
    messaging.deliver(row.pk)
    row.refresh_from_db()
    assert row.status == "failed" and "inactive" in row.last_error
    assert oauth_env.fake.count("POST", "/v1/messages") == 0


def test_client_refreshes_once_on_401_and_retries(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    credential = make_user_credential()
    # Webex revoked the access token early (the user changed their password, say), while our
    # expiry time says it is still good.
    revoke_access_token(oauth_env.fake, credential.access_token)
    before = oauth_env.token_requests()

    me = credential.client().people.me()

    assert me.id == credential.webex_person_id
    assert oauth_env.token_requests() == before + 1
    assert sent["refreshed"] == [credential.pk]


def test_client_gives_up_after_one_refresh(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any]
) -> None:
    from django_webexteams.client import UnauthorizedError

    credential = make_user_credential()
    revoke_access_token(oauth_env.fake, credential.access_token)
    client = credential.client()
    # Every token of this person is refused from now on: the refresh succeeds but the retry
    # fails; no second refresh, no loop.
    oauth_env.fake.fail_next(401, times=2, path="/people/me")
    before = oauth_env.token_requests()
    with pytest.raises(UnauthorizedError):
        client.people.me()
    assert oauth_env.token_requests() == before + 1


def test_401_with_revoked_refresh_token_raises_unauthorized_and_marks_inactive(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    from django_webexteams.client import UnauthorizedError

    credential = make_user_credential()
    revoke_access_token(oauth_env.fake, credential.access_token)
    credential.refresh_token = "not-valid-any-more"
    credential.save()
    with pytest.raises(UnauthorizedError):
        credential.client().people.me()
    assert not Credential.objects.get(pk=credential.pk).is_active
    assert sent["revoked"] == [credential.pk]


def test_refresh_credentials_task(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], sent: Any
) -> None:
    from django_webexteams.tasks import refresh_credentials

    due = make_user_credential("due@example.com", expired=True)
    fresh = make_user_credential("fresh@example.com")
    Credential.objects.filter(pk=fresh.pk).update(
        expires_at=timezone.now() + timedelta(days=10),
        refresh_expires_at=timezone.now() + timedelta(days=60),
    )
    revoked = make_user_credential("revoked@example.com", expired=True)
    revoked.refresh_token = "bogus"
    revoked.save()
    Credential.objects.create(kind="bot", access_token="bot", expires_at=timezone.now())

    counts = refresh_credentials.apply(kwargs={"within": 3600}).get()

    assert counts == {"refreshed": 1, "revoked": 1, "failed": 0, "skipped": 0}
    assert sent["refreshed"] == [due.pk] and sent["revoked"] == [revoked.pk]
    assert Credential.objects.get(pk=fresh.pk).access_token == fresh.access_token
