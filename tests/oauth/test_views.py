"""The OAuth views against the fake Webex: the happy path and every way the flow can fail."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from django_webexteams import signals
from django_webexteams.adapter import DefaultAdapter, OAuthLoginError
from django_webexteams.models import Credential
from django_webexteams.oauth import views as oauth_views
from tests.oauth.conftest import (
    CLIENT_ID,
    TESTSERVER_REDIRECT_URI,
    OAuthEnv,
    authorize_at_fake,
    path_and_query,
    query_of,
)

pytestmark = pytest.mark.django_db

LOGIN = "/webex/oauth/login/"


def start(client: Client, next_url: str | None = None) -> str:
    """GET the login view; return the authorize URL it redirects to."""
    response = client.get(LOGIN, {"next": next_url} if next_url else {})
    assert response.status_code == 302
    return str(response["Location"])


def finish(client: Client, callback_url: str) -> Any:
    return client.get(path_and_query(callback_url))


def login_through_fake(client: Client, email: str = "alice@example.com", **kw: Any) -> Any:
    authorize_url = start(client, **kw)
    return finish(client, authorize_at_fake(authorize_url, email=email))


def assert_error(response: Any, reason: str, status: int) -> None:
    assert response.status_code == status
    assert f'data-reason="{reason}"' in response.content.decode()
    assert "Traceback" not in response.content.decode()


# --- the login redirect ------------------------------------------------------------------------
def test_login_redirects_to_authorize_with_state_pkce_scopes_and_exact_redirect_uri(
    client: Client, oauth_env: OAuthEnv
) -> None:
    url = start(client)
    assert url.startswith(oauth_env.fake.base_url + "/authorize?")
    q = query_of(url)
    assert q["response_type"] == "code"
    assert q["client_id"] == CLIENT_ID
    assert q["scope"] == "spark:people_read spark:messages_write"
    assert q["redirect_uri"] == TESTSERVER_REDIRECT_URI
    assert q["code_challenge_method"] == "S256"
    pending = client.session[oauth_views.SESSION_KEY]
    entry = pending[q["state"]]
    digest = hashlib.sha256(entry["verifier"].encode()).digest()
    assert q["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert len(q["state"]) >= 32


def test_each_login_gets_a_fresh_state(client: Client, oauth_env: OAuthEnv) -> None:
    first, second = query_of(start(client))["state"], query_of(start(client))["state"]
    assert first != second
    assert set(client.session[oauth_views.SESSION_KEY]) == {first, second}


def test_pending_states_are_bounded(client: Client, oauth_env: OAuthEnv) -> None:
    states = [query_of(start(client))["state"] for _ in range(oauth_views.MAX_PENDING + 3)]
    assert list(client.session[oauth_views.SESSION_KEY]) == states[-oauth_views.MAX_PENDING :]


def test_configured_redirect_uri_is_used_verbatim(client: Client, oauth_env: OAuthEnv) -> None:
    uri = "https://example.com/webex/oauth/callback/"
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_REDIRECT_URI": uri}
    assert query_of(start(client))["redirect_uri"] == uri


def test_login_without_client_id_shows_the_error_page(client: Client, oauth_env: OAuthEnv) -> None:
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "CLIENT_ID": None}
    assert_error(client.get(LOGIN), "not_configured", 400)


# --- the happy path ----------------------------------------------------------------------------
def test_login_creates_user_logs_in_stores_encrypted_credential_and_signals(
    client: Client, oauth_env: OAuthEnv
) -> None:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    signals.credential_connected.connect(receiver)
    try:
        response = login_through_fake(client, "alice@example.com", next_url="/after/")
    finally:
        signals.credential_connected.disconnect(receiver)
    assert response.status_code == 302
    assert response["Location"] == "/after/"

    user = get_user_model().objects.get(email="alice@example.com")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.session["_auth_user_backend"] == "django_webexteams.backends.WebexBackend"
    assert not user.has_usable_password()

    credential = Credential.objects.get(owner=user)
    assert credential.kind == "user"
    assert credential.email == "alice@example.com"
    assert credential.webex_person_id
    assert credential.access_token and credential.refresh_token
    assert credential.expires_at and credential.refresh_expires_at
    assert credential.scopes == ["spark:messages_write", "spark:people_read"]
    # Encrypted at rest: the raw column holds neither token.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM webexteams_credential WHERE id = %s",
            [credential.pk],
        )
        raw_access, raw_refresh = cursor.fetchone()
    assert credential.access_token not in raw_access
    assert credential.refresh_token not in raw_refresh
    # The stored token works.
    assert credential.client().people.me().id == credential.webex_person_id

    assert len(received) == 1
    assert received[0]["credential"] == credential and received[0]["user"] == user
    assert received[0]["request"] is not None
    # The state is gone from the session.
    assert not client.session.get(oauth_views.SESSION_KEY)


def test_second_login_finds_the_same_user_by_person_id(client: Client, oauth_env: OAuthEnv) -> None:
    login_through_fake(client, "alice@example.com")
    first_token = Credential.objects.get().access_token
    client.logout()
    response = login_through_fake(client, "alice@example.com")
    assert response.status_code == 302
    assert get_user_model().objects.count() == 1
    credential = Credential.objects.get()
    assert credential.access_token != first_token  # the new tokens replaced the old ones


def test_login_rotates_the_session_key(client: Client, oauth_env: OAuthEnv) -> None:
    authorize_url = start(client)
    key_before = client.session.session_key
    finish(client, authorize_at_fake(authorize_url, email="alice@example.com"))
    assert client.session.session_key != key_before


def test_no_signup_when_create_users_is_off(client: Client, oauth_env: OAuthEnv) -> None:
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_CREATE_USERS": False}
    assert_error(login_through_fake(client), "signup_closed", 403)
    assert not get_user_model().objects.exists()
    assert not Credential.objects.exists()


def test_email_match_links_an_existing_user_only_when_enabled(
    client: Client, oauth_env: OAuthEnv
) -> None:
    bob = get_user_model().objects.create_user("bob", email="Bob@Example.com", password="x")
    login_through_fake(client, "bob@example.com")
    assert Credential.objects.get().owner != bob  # off by default: a new user was created
    get_user_model().objects.exclude(pk=bob.pk).delete()  # (its credential goes with it)
    client.logout()

    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_MATCH_EMAIL": True}
    login_through_fake(client, "bob@example.com")
    assert Credential.objects.get().owner == bob
    assert int(client.session["_auth_user_id"]) == bob.pk


def test_email_match_never_adds_a_second_identity_to_a_linked_user(
    client: Client, oauth_env: OAuthEnv
) -> None:
    """Attack (issue 16): bob's account is linked to his Webex identity; a *different*
    Webex account carrying bob's address (re-created, or the address reassigned) signs in.
    The e-mail match must not attach it to bob's account and log in as bob."""
    bob = get_user_model().objects.create_user("bob", email="bob@example.com", password="x")
    Credential.objects.create(
        kind="user", owner=bob, webex_person_id="bobs-original-webex-id", access_token="t" * 20
    )
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_MATCH_EMAIL": True}
    assert_error(login_through_fake(client, "bob@example.com"), "identity_in_use", 403)
    assert "_auth_user_id" not in client.session
    assert list(Credential.objects.values_list("webex_person_id", flat=True)) == [
        "bobs-original-webex-id"
    ]


def test_email_match_never_picks_staff(client: Client, oauth_env: OAuthEnv) -> None:
    admin = get_user_model().objects.create_user(
        "admin", email="admin@example.com", password="x", is_staff=True
    )
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_MATCH_EMAIL": True}
    login_through_fake(client, "admin@example.com")
    assert int(client.session["_auth_user_id"]) != admin.pk


def test_email_match_never_guesses_between_accounts(client: Client, oauth_env: OAuthEnv) -> None:
    """Attack: account takeover by e-mail collision. Two local accounts share an address
    (Django does not make e-mails unique); a Webex login with that address must link to
    neither of them."""
    one = get_user_model().objects.create_user("one", email="shared@example.com", password="x")
    two = get_user_model().objects.create_user("two", email="SHARED@example.com", password="x")
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_MATCH_EMAIL": True}
    login_through_fake(client, "shared@example.com")
    assert int(client.session["_auth_user_id"]) not in (one.pk, two.pk)
    assert Credential.objects.get().owner not in (one, two)


def test_inactive_user_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    login_through_fake(client, "alice@example.com")
    get_user_model().objects.update(is_active=False)
    client.logout()
    assert_error(login_through_fake(client, "alice@example.com"), "user_inactive", 403)


def test_without_webex_backend_a_refused_login_leaves_no_user_behind(
    client: Client, oauth_env: OAuthEnv, settings: Any
) -> None:
    """Issue 15: README's settings once left WebexBackend out of AUTHENTICATION_BACKENDS;
    each refused login created one more user (alice@example.com, alice@example.com-2, ...)."""
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    for _ in range(3):
        assert_error(login_through_fake(client, "alice@example.com"), "login_refused", 403)
    assert get_user_model().objects.count() == 0
    assert Credential.objects.count() == 0
    assert "_auth_user_id" not in client.session
    # With the backend in place, the same person signs in, as one user.
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "django_webexteams.backends.WebexBackend",
    ]
    response = login_through_fake(client, "alice@example.com")
    assert response.status_code == 302
    assert get_user_model().objects.count() == 1
    assert Credential.objects.count() == 1


def test_a_failure_after_the_user_was_created_rolls_the_user_back(
    client: Client, oauth_env: OAuthEnv
) -> None:
    """The whole callback is one transaction: storing the credential failing after the
    adapter created the user leaves neither behind."""
    with (
        mock.patch.object(oauth_views, "_store_credential", side_effect=RuntimeError("db")),
        pytest.raises(RuntimeError),
    ):
        login_through_fake(client, "alice@example.com")
    assert get_user_model().objects.count() == 0


# --- state -------------------------------------------------------------------------------------
def test_tampered_state_is_refused_without_calling_the_token_endpoint(
    client: Client, oauth_env: OAuthEnv
) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    q = query_of(callback)
    tampered = q["state"][:-2] + ("AA" if not q["state"].endswith("AA") else "BB")
    response = client.get(
        reverse("webexteams:oauth_callback"), {"code": q["code"], "state": tampered}
    )
    assert_error(response, "state_invalid", 403)
    assert oauth_env.token_requests() == 0
    assert "_auth_user_id" not in client.session


def test_missing_state_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    response = client.get(
        reverse("webexteams:oauth_callback"), {"code": query_of(callback)["code"]}
    )
    assert_error(response, "state_invalid", 403)
    assert oauth_env.token_requests() == 0


def test_state_from_another_session_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    """Login CSRF: an attacker's callback URL opened in the victim's browser."""
    attacker = Client()
    callback = authorize_at_fake(start(attacker), email="mallory@example.com")
    assert_error(finish(client, callback), "state_invalid", 403)
    assert oauth_env.token_requests() == 0
    assert "_auth_user_id" not in client.session


def test_replayed_callback_url_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    assert finish(client, callback).status_code == 302
    assert oauth_env.token_requests() == 1
    client.logout()
    assert_error(finish(client, callback), "state_invalid", 403)
    assert oauth_env.token_requests() == 1  # the replay never reached the token endpoint


def test_replay_within_the_same_session_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    finish(client, callback)
    assert_error(finish(client, callback), "state_invalid", 403)
    assert oauth_env.token_requests() == 1


def test_expired_state_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    import time

    callback = authorize_at_fake(start(client), email="alice@example.com")
    later = time.time() + 601  # OAUTH_STATE_TTL defaults to 600 seconds
    with mock.patch.object(oauth_views, "_now", return_value=later):
        response = finish(client, callback)
    assert_error(response, "state_expired", 403)
    assert oauth_env.token_requests() == 0
    # Expired states are single-use too.
    assert_error(finish(client, callback), "state_invalid", 403)


def test_state_just_inside_the_ttl_is_accepted(client: Client, oauth_env: OAuthEnv) -> None:
    import time

    callback = authorize_at_fake(start(client), email="alice@example.com")
    with mock.patch.object(oauth_views, "_now", return_value=time.time() + 590):
        response = finish(client, callback)
    assert response.status_code == 302


def test_bad_state_wins_over_error_param(client: Client, oauth_env: OAuthEnv) -> None:
    response = client.get(
        reverse("webexteams:oauth_callback"), {"error": "access_denied", "state": "forged"}
    )
    assert_error(response, "state_invalid", 403)


# --- errors from Webex -------------------------------------------------------------------------
def test_decline_shows_the_friendly_page(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com", action="decline")
    response = finish(client, callback)
    assert_error(response, "access_denied", 403)
    assert "declined" in response.content.decode()
    assert oauth_env.token_requests() == 0
    assert not Credential.objects.exists()


def test_other_error_param_is_shown_without_echoing_its_description(
    client: Client, oauth_env: OAuthEnv
) -> None:
    state = query_of(start(client))["state"]
    response = client.get(
        reverse("webexteams:oauth_callback"),
        {"error": "server_error", "error_description": "<script>evil()</script>", "state": state},
    )
    assert_error(response, "authorize_error", 400)
    assert "evil()" not in response.content.decode()
    assert oauth_env.token_requests() == 0


def test_missing_code_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    state = query_of(start(client))["state"]
    response = client.get(reverse("webexteams:oauth_callback"), {"state": state})
    assert_error(response, "code_missing", 400)
    assert oauth_env.token_requests() == 0


def test_pkce_mismatch_is_refused_by_webex(client: Client, oauth_env: OAuthEnv) -> None:
    authorize_url = start(client)
    state = query_of(authorize_url)["state"]
    session = client.session
    pending = session[oauth_views.SESSION_KEY]
    pending[state]["verifier"] = "x" * 64  # not the verifier of the challenge that was sent
    session[oauth_views.SESSION_KEY] = pending
    session.save()
    response = finish(client, authorize_at_fake(authorize_url, email="alice@example.com"))
    assert_error(response, "exchange_failed", 400)
    assert oauth_env.token_requests() == 1
    assert not Credential.objects.exists()
    assert "_auth_user_id" not in client.session


def test_redirect_uri_mismatch_at_exchange_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    other = "http://testserver/elsewhere/"
    oauth_env.fake.register_oauth_client(
        CLIENT_ID, "test-integration-secret", redirect_uris=[TESTSERVER_REDIRECT_URI, other]
    )
    authorize_url = start(client)
    state = query_of(authorize_url)["state"]
    session = client.session
    pending = session[oauth_views.SESSION_KEY]
    pending[state]["redirect_uri"] = other
    session[oauth_views.SESSION_KEY] = pending
    session.save()
    response = finish(client, authorize_at_fake(authorize_url, email="alice@example.com"))
    assert_error(response, "exchange_failed", 400)


def test_token_endpoint_down(client: Client, oauth_env: OAuthEnv) -> None:
    oauth_env.settings.WEBEXTEAMS = {
        **oauth_env.settings.WEBEXTEAMS,
        "OAUTH_TOKEN_URL": "http://127.0.0.1:9/v1/access_token",  # a closed port
    }
    response = login_through_fake(client)
    assert_error(response, "webex_unavailable", 400)
    assert "not reachable" in response.content.decode()
    assert not Credential.objects.exists()
    assert "_auth_user_id" not in client.session


def test_token_endpoint_5xx(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    oauth_env.fake.fail_next(503, path="/access_token")
    assert_error(finish(client, callback), "webex_unavailable", 400)
    assert oauth_env.token_requests() == 1
    assert not Credential.objects.exists()


def test_people_me_failing(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    real_exchange = oauth_views._exchange

    def exchange_then_break_webex(code: str, entry: dict[str, Any]) -> Any:
        token = real_exchange(code, entry)
        oauth_env.fake.fail_next(403, path="/people/me")
        return token

    with mock.patch.object(oauth_views, "_exchange", exchange_then_break_webex):
        response = finish(client, callback)
    assert_error(response, "profile_failed", 400)
    assert not Credential.objects.exists()


def test_people_me_outage(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    real_exchange = oauth_views._exchange

    def exchange_then_break_webex(code: str, entry: dict[str, Any]) -> Any:
        token = real_exchange(code, entry)
        oauth_env.settings.WEBEXTEAMS = {
            **oauth_env.settings.WEBEXTEAMS,
            "API_BASE_URL": "http://127.0.0.1:9/v1",
        }
        return token

    with mock.patch.object(oauth_views, "_exchange", exchange_then_break_webex):
        response = finish(client, callback)
    assert_error(response, "webex_unavailable", 400)


# --- next --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/steal",
        "//evil.example/steal",
        "http://evil.example",
        "javascript:alert(1)",
        "///evil.example",
        "https:/\\evil.example",
    ],
)
def test_off_site_next_is_ignored(client: Client, oauth_env: OAuthEnv, next_url: str) -> None:
    response = login_through_fake(client, next_url=next_url)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_next_tampered_in_session_is_checked_again(client: Client, oauth_env: OAuthEnv) -> None:
    authorize_url = start(client, next_url="/ok/")
    state = query_of(authorize_url)["state"]
    session = client.session
    pending = session[oauth_views.SESSION_KEY]
    pending[state]["next"] = "https://evil.example/"
    session[oauth_views.SESSION_KEY] = pending
    session.save()
    response = finish(client, authorize_at_fake(authorize_url, email="alice@example.com"))
    assert response["Location"] == "/"


def test_configured_login_redirect_url(client: Client, oauth_env: OAuthEnv) -> None:
    oauth_env.settings.WEBEXTEAMS = {
        **oauth_env.settings.WEBEXTEAMS,
        "OAUTH_LOGIN_REDIRECT_URL": "/welcome/",
    }
    assert login_through_fake(client)["Location"] == "/welcome/"


# --- connect and disconnect --------------------------------------------------------------------
def test_logged_in_user_connects_webex_to_their_account(
    client: Client, oauth_env: OAuthEnv
) -> None:
    carol = get_user_model().objects.create_user("carol", email="carol@corp.example", password="pw")
    client.force_login(carol)
    response = login_through_fake(client, "carol.webex@example.com")
    assert response.status_code == 302
    credential = Credential.objects.get()
    assert credential.owner == carol
    assert credential.email == "carol.webex@example.com"
    assert get_user_model().objects.count() == 1
    assert int(client.session["_auth_user_id"]) == carol.pk


def test_connect_refuses_an_identity_linked_to_someone_else(
    client: Client, oauth_env: OAuthEnv
) -> None:
    login_through_fake(Client(), "alice@example.com")  # alice's account holds the identity
    carol = get_user_model().objects.create_user("carol", password="pw")
    client.force_login(carol)
    assert_error(login_through_fake(client, "alice@example.com"), "identity_in_use", 403)
    assert not Credential.objects.filter(owner=carol).exists()


def test_connect_refused_when_another_user_logged_in_meanwhile(
    client: Client, oauth_env: OAuthEnv
) -> None:
    carol = get_user_model().objects.create_user("carol", password="pw")
    dave = get_user_model().objects.create_user("dave", password="pw")
    client.force_login(carol)
    authorize_url = start(client)
    pending = client.session[oauth_views.SESSION_KEY]
    client.force_login(dave)  # same session (no flush needed for the test): put state back
    session = client.session
    session[oauth_views.SESSION_KEY] = pending
    session.save()
    response = finish(client, authorize_at_fake(authorize_url, email="carol@example.com"))
    assert_error(response, "session_changed", 403)
    assert oauth_env.token_requests() == 0


def test_disconnect_get_confirms_post_deletes(client: Client, oauth_env: OAuthEnv) -> None:
    login_through_fake(client, "alice@example.com")
    url = reverse("webexteams:oauth_disconnect")
    page = client.get(url)
    assert page.status_code == 200 and "Disconnect Webex" in page.content.decode()
    assert Credential.objects.count() == 1

    response = client.post(url, {"next": "/bye/"})
    assert response.status_code == 302 and response["Location"] == "/bye/"
    assert not Credential.objects.exists()
    assert "_auth_user_id" in client.session  # still logged in


def test_disconnect_requires_csrf(oauth_env: OAuthEnv) -> None:
    client = Client(enforce_csrf_checks=True)
    login_through_fake(client, "alice@example.com")
    response = client.post(reverse("webexteams:oauth_disconnect"))
    assert response.status_code == 403
    assert Credential.objects.count() == 1


def test_disconnect_only_touches_own_credentials(client: Client, oauth_env: OAuthEnv) -> None:
    login_through_fake(Client(), "alice@example.com")
    alice_cred = Credential.objects.get()
    login_through_fake(client, "bob@example.com")
    client.post(reverse("webexteams:oauth_disconnect"), {"credential": str(alice_cred.pk)})
    assert Credential.objects.filter(pk=alice_cred.pk).exists()


def test_disconnect_keeps_a_referenced_row_but_deletes_the_tokens(
    client: Client, oauth_env: OAuthEnv
) -> None:
    from django_webexteams.models import Webhook

    login_through_fake(client, "alice@example.com")
    credential = Credential.objects.get()
    Webhook.objects.create(name="w", resource="messages", event="created", credential=credential)
    client.post(reverse("webexteams:oauth_disconnect"))
    credential.refresh_from_db()
    assert credential.access_token == "" and credential.refresh_token == ""
    assert not credential.is_active


def test_disconnect_anonymous_is_refused(client: Client, oauth_env: OAuthEnv) -> None:
    assert_error(client.post(reverse("webexteams:oauth_disconnect")), "not_logged_in", 403)


# --- the adapter -------------------------------------------------------------------------------
class RefusingAdapter(DefaultAdapter):
    def find_user(self, request: Any, person: Any) -> Any:
        raise OAuthLoginError("wrong_org", "Only our company may sign in.", 403)


def test_adapter_setting_is_used(client: Client, oauth_env: OAuthEnv) -> None:
    oauth_env.settings.WEBEXTEAMS = {
        **oauth_env.settings.WEBEXTEAMS,
        "ADAPTER": "tests.oauth.test_views.RefusingAdapter",
    }
    response = login_through_fake(client)
    assert_error(response, "wrong_org", 403)
    assert "Only our company" in response.content.decode()


def test_error_template_is_overridable(
    client: Client, oauth_env: OAuthEnv, settings: Any, tmp_path: Any
) -> None:
    (tmp_path / "webexteams").mkdir()
    (tmp_path / "webexteams" / "oauth_error.html").write_text("CUSTOM {{ reason }}")
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]
    response = client.get(reverse("webexteams:oauth_callback"), {"state": "nope"})
    assert response.status_code == 403
    assert response.content.decode() == "CUSTOM state_invalid"


def test_home_page_shows_login_button_then_who_is_logged_in(
    client: Client, oauth_env: OAuthEnv
) -> None:
    assert "Log in with Webex" in client.get("/").content.decode()
    login_through_fake(client, "alice@example.com")
    page = client.get("/").content.decode()
    assert "Logged in as" in page and "alice@example.com" in page
    assert "Connected to Webex as" in page


def test_token_endpoint_timeout(client: Client, oauth_env: OAuthEnv) -> None:
    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "REQUEST_TIMEOUT": (2.0, 0.3)}
    callback = authorize_at_fake(start(client), email="alice@example.com")
    oauth_env.fake.set_latency(2.0, path="/access_token")
    response = finish(client, callback)
    assert_error(response, "webex_unavailable", 400)
    assert not Credential.objects.exists()


def test_token_endpoint_drops_the_connection(client: Client, oauth_env: OAuthEnv) -> None:
    callback = authorize_at_fake(start(client), email="alice@example.com")
    oauth_env.fake.drop_next_connection(path="/access_token")
    assert_error(finish(client, callback), "webex_unavailable", 400)


def test_custom_state_ttl(client: Client, oauth_env: OAuthEnv) -> None:
    import time

    oauth_env.settings.WEBEXTEAMS = {**oauth_env.settings.WEBEXTEAMS, "OAUTH_STATE_TTL": 60}
    callback = authorize_at_fake(start(client), email="alice@example.com")
    with mock.patch.object(oauth_views, "_now", return_value=time.time() + 61):
        assert_error(finish(client, callback), "state_expired", 403)


def test_connect_sends_credential_connected(client: Client, oauth_env: OAuthEnv) -> None:
    carol = get_user_model().objects.create_user("carol", password="pw")
    client.force_login(carol)
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    signals.credential_connected.connect(receiver)
    try:
        login_through_fake(client, "carol@example.com")
    finally:
        signals.credential_connected.disconnect(receiver)
    assert [r["user"] for r in received] == [carol]


def test_no_token_or_secret_in_logs(
    client: Client, oauth_env: OAuthEnv, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from django_webexteams import tokens

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django_webexteams")  # the project sets WARNING
    login_through_fake(client, "alice@example.com")
    credential = Credential.objects.get()
    secrets = [credential.access_token, credential.refresh_token]
    Credential.objects.filter(pk=credential.pk).update(expires_at=credential.created_at)
    credential.refresh_from_db()
    tokens.get_valid_access_token(credential)  # a refresh, logged at INFO
    credential.refresh_from_db()
    secrets += [credential.access_token, credential.refresh_token, "test-integration-secret"]
    # and a failing refresh, logged at WARNING
    Credential.objects.filter(pk=credential.pk).update(expires_at=credential.created_at)
    credential.refresh_from_db()
    oauth_env.fake.fail_next(500, path="/access_token")
    tokens.refresh_credential(credential, force=True)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Refreshed the Webex access token" in text
    for secret in secrets:
        assert secret not in text
    assert "Bearer" not in text


# --- ids from the request (issue 16): never a 500 ---------------------------------------------

#: Strings a request may carry where an id or a number is expected: Unicode digits
#: (isdigit() is true for superscript two and Arabic-Indic digits), int()'s underscores and
#: spaces, signs, overflow, NUL and control characters, SQL and path noise.
HOSTILE_IDS = [
    "\u00b2", "\u0661\u0662", "\u07c1", "1_0", " 1", "1\n", "+1", "-1", "0", "1e3", "0x1",
    "9" * 19, "9" * 40, "\x00", "1\x00", "%", "../1", "1;--", "' OR 1=1 --", "", " ",
    "\u0661", "\U0001d7d9", "\u216b",
]  # fmt: skip


@pytest.mark.parametrize("value", [v for v in HOSTILE_IDS if v])  # "": disconnect all
def test_disconnect_with_a_hostile_credential_id_deletes_nothing(
    client: Client, oauth_env: OAuthEnv, value: str
) -> None:
    login_through_fake(client, "alice@example.com")
    response = client.post(reverse("webexteams:oauth_disconnect"), {"credential": value})
    assert response.status_code == 302  # was a 500 for "\u00b2" (superscript two)
    assert Credential.objects.count() == 1


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_oauth_views_take_hostile_query_values_without_500(
    client: Client, oauth_env: OAuthEnv, value: str
) -> None:
    for name, params in (
        ("webexteams:oauth_login", {"next": value}),
        ("webexteams:oauth_callback", {"state": value, "code": value}),
        ("webexteams:oauth_callback", {"state": value, "error": value}),
        ("webexteams:oauth_disconnect", {"next": value}),
    ):
        response = client.get(reverse(name), params)
        assert response.status_code < 500, (name, params)


def test_ascii_int_takes_ascii_digits_only() -> None:
    from django_webexteams.http import ascii_int

    assert ascii_int("42") == 42 and ascii_int("0") == 0 and ascii_int("9" * 18) == int("9" * 18)
    for value in HOSTILE_IDS:
        if value not in ("0",):
            assert ascii_int(value) is None, value
    assert ascii_int(None) is None and ascii_int(12) is None
