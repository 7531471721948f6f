"""Real Chromium clicks "Log in with Webex" on the test project and Accept/Decline at the fake.

Debian's chromium through Playwright's ``executable_path``; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams.models import Credential
from tests.browser import ARTIFACTS
from tests.oauth.conftest import CLIENT_ID, CLIENT_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server: Any, fake_webex: Any, settings: Any) -> Any:
    """The test project served by the live server, with an integration at the fake Webex."""
    redirect_uri = live_server.url + "/webex/oauth/callback/"
    fake_webex.register_oauth_client(
        CLIENT_ID, CLIENT_SECRET, redirect_uris=[redirect_uri], name="Test Project"
    )
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake_webex.base_url,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "OAUTH_SCOPES": ["spark:people_read", "spark:messages_write"],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    return live_server


def test_log_in_with_webex_in_chromium(browser_page: Any, site: Any, fake_webex: Any) -> None:
    page = browser_page
    page.goto(site.url + "/")
    assert "You are not logged in" in page.inner_text("#whoami")

    page.click("text=Log in with Webex")
    page.wait_for_url(fake_webex.base_url + "/authorize*")
    assert "Test Project" in page.content()
    page.fill("#email", "alice@example.com")
    page.screenshot(path=str(ARTIFACTS / "oauth-authorize.png"), full_page=True)
    page.click("#accept")

    page.wait_for_url(site.url + "/")
    assert "Logged in as" in page.inner_text("#whoami")
    assert "alice@example.com" in page.inner_text("#whoami")
    assert "Connected to Webex as" in page.inner_text("#webex-credentials")
    page.screenshot(path=str(ARTIFACTS / "oauth-logged-in.png"), full_page=True)

    credential = Credential.objects.get()
    assert credential.owner is not None and credential.owner.email == "alice@example.com"
    assert credential.client().people.me().email == "alice@example.com"


def test_decline_lands_on_the_friendly_page(browser_page: Any, site: Any, fake_webex: Any) -> None:
    page = browser_page
    page.goto(site.url + "/")
    page.click("text=Log in with Webex")
    page.wait_for_url(fake_webex.base_url + "/authorize*")
    page.click("#decline")

    page.wait_for_url(site.url + "/webex/oauth/callback/*")
    assert page.get_attribute("#oauth-error", "data-reason") == "access_denied"
    assert "declined" in page.inner_text("#oauth-error")
    assert "Traceback" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "oauth-declined.png"), full_page=True)

    page.goto(site.url + "/")
    assert "You are not logged in" in page.inner_text("#whoami")
    assert not Credential.objects.exists()
