"""WebexBackend logs in only users the OAuth callback verified."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model

from django_webexteams.backends import VerifiedWebexLogin, WebexBackend

pytestmark = pytest.mark.django_db


def test_only_the_proof_object_authenticates() -> None:
    user = get_user_model().objects.create_user("alice", email="alice@example.com")
    backend = WebexBackend()
    assert backend.authenticate(None, webex_login=VerifiedWebexLogin(user, "P1")) == user
    # Strings, ids or e-mails passed by other callers never log anyone in.
    assert backend.authenticate(None, webex_login="alice") is None  # type: ignore[arg-type]
    assert backend.authenticate(None, username="alice", email="alice@example.com") is None
    assert authenticate(None, webex_person_id="P1") is None


def test_inactive_users_are_refused_and_not_restored() -> None:
    user = get_user_model().objects.create_user("bob", is_active=False)
    backend = WebexBackend()
    assert backend.authenticate(None, webex_login=VerifiedWebexLogin(user, "P2")) is None
    assert backend.get_user(user.pk) is None
    user.is_active = True
    user.save()
    assert backend.get_user(user.pk) == user
    assert backend.get_user(987654) is None
