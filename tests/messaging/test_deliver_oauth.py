"""Sending as a user credential (OAuth integration): refresh once on 401, then retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from django_webexteams import messaging
from django_webexteams.models import Credential
from tests.oauth import conftest as oauth_fixtures
from tests.oauth.conftest import OAuthEnv, revoke_access_token

# The OAuth tests' fixtures: a fake Webex with our integration, user credentials in it.
oauth_env = oauth_fixtures.oauth_env
make_user_credential = oauth_fixtures.make_user_credential

pytestmark = pytest.mark.django_db


def test_401_refreshes_once_and_the_message_is_sent(
    webex: Any,
    oauth_env: OAuthEnv,
    make_user_credential: Callable[..., Any],
) -> None:
    credential = make_user_credential(webex.alice.email)
    # Webex revoked the access token early; our expiry time still says it is good.
    revoke_access_token(webex.fake, credential.access_token)
    before = oauth_env.token_requests()
    row = messaging.send_message(room_id=webex.room.id, text="as Alice", credential=credential,
                                 enqueue=False)  # fmt: skip
    assert messaging.deliver(row.pk).outcome == "sent"
    assert oauth_env.token_requests() == before + 1
    [stored] = webex.fake.messages_in(webex.room.id)
    assert stored["personId"] == webex.alice.id and stored["text"] == "as Alice"
    row.refresh_from_db()
    assert row.attempts == 1  # the refresh-and-retry happened inside one attempt


def test_401_with_a_revoked_refresh_token_fails(
    webex: Any,
    oauth_env: OAuthEnv,
    make_user_credential: Callable[..., Any],
) -> None:
    credential = make_user_credential(webex.alice.email)
    revoke_access_token(webex.fake, credential.access_token)
    credential.refresh_token = "not-valid-any-more"
    credential.save()
    row = messaging.send_message(room_id=webex.room.id, text="never", credential=credential,
                                 enqueue=False)  # fmt: skip
    assert messaging.deliver(row.pk).outcome == "failed"
    row.refresh_from_db()
    assert "401" in row.last_error
    assert not Credential.objects.get(pk=credential.pk).is_active
    assert webex.fake.messages_in(webex.room.id) == []
    # An inactive credential fails at once next time, without calling Webex.
    again = messaging.send_message(room_id=webex.room.id, text="again", credential=credential,
                                   enqueue=False)  # fmt: skip
    requests_before = len(webex.fake.requests)
    assert messaging.deliver(again.pk).outcome == "failed"
    assert len(webex.fake.requests) == requests_before
