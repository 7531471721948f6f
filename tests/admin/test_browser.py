"""Real Chromium logs into the admin, opens the live spaces and licenses pages, follows Next.

Debian's chromium through Playwright's ``executable_path``; screenshots go to test-artifacts/
(look at them: they are the check that the pages look like the rest of the admin).
"""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams import webhooks
from django_webexteams.models import Credential, Webhook, WebhookDelivery
from tests.admin.conftest import World
from tests.browser import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser_page: Any) -> Any:
    return browser_page


def test_admin_live_pages_in_chromium(
    page: Any, live_server: Any, world: World, spaces: Any, django_user_model: Any
) -> None:
    staff = django_user_model.objects.create_superuser("staff", "staff@example.com", "secret-pw")
    admin_account = Credential.objects.create(
        kind="user",
        owner=staff,
        webex_person_id=world.admin.id,
        email="boss@example.com",
        display_name="Boss",
        access_token=world.admin.token,
    )
    world.fake.post_message(world.alice, spaces[0].id, text="Hello bot", mentions=[world.bot])

    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "secret-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    index = page.inner_text("#content-main")
    assert "Webex spaces (live)" in index and "Webex licenses (live)" in index
    page.screenshot(path=str(ARTIFACTS / "admin-index.png"), full_page=True)

    # Spaces, three per page: follow Next twice, then Previous.
    page.click("text=Webex spaces (live)")
    page.wait_for_selector("#result_list")
    page.goto(page.url + "?max=3")
    assert page.locator("tr.webex-space").count() == 3
    assert "Space 1" in page.inner_text("#result_list")
    page.screenshot(path=str(ARTIFACTS / "admin-spaces-page1.png"), full_page=True)

    page.click("#webex-next")
    page.wait_for_load_state()
    assert "Space 4" in page.inner_text("#result_list")
    assert "Space 1" not in page.inner_text("#result_list")
    page.screenshot(path=str(ARTIFACTS / "admin-spaces-page2.png"), full_page=True)
    page.click("#webex-next")
    page.wait_for_load_state()
    assert page.locator("tr.webex-space").count() == 1
    assert page.locator("#webex-next").count() == 0
    page.click("#webex-previous")
    page.wait_for_load_state()
    assert "Space 4" in page.inner_text("#result_list")

    # Search and the detail page of a space.
    page.goto(live_server.url + "/admin/webexteams/space/?q=space%201")
    page.click("text=Space 1")
    page.wait_for_selector("#webex-members")
    assert "alice@example.com" in page.inner_text("#webex-members")
    assert "Hello bot" in page.inner_text("#webex-messages")
    page.screenshot(path=str(ARTIFACTS / "admin-space-detail.png"), full_page=True)

    # Licenses as the staff member's own (administrator) Webex account.
    page.goto(live_server.url + "/admin/webexteams/license/")
    page.select_option("#id_credential", str(admin_account.pk))
    page.click("#changelist-search input[type=submit]")
    page.wait_for_selector("tr.webex-license")
    assert "Messaging" in page.inner_text("#result_list")
    page.screenshot(path=str(ARTIFACTS / "admin-licenses.png"), full_page=True)
    page.click("text=Messaging")
    page.wait_for_selector("#webex-holders")
    assert "alice@example.com" in page.inner_text("#webex-holders")
    page.screenshot(path=str(ARTIFACTS / "admin-license-detail.png"), full_page=True)

    # The default bot is no administrator: the 403 is a message on the page.
    page.goto(live_server.url + "/admin/webexteams/license/?credential=bot")
    assert "403 Forbidden" in page.inner_text(".messagelist")
    page.screenshot(path=str(ARTIFACTS / "admin-licenses-403.png"), full_page=True)


def test_model_admin_pages_in_chromium(
    page: Any, live_server: Any, world: World, django_user_model: Any
) -> None:
    django_user_model.objects.create_superuser("staff", "staff@example.com", "secret-pw")
    active = webhooks.register_webhook(name="Messages", resource="messages", event="created")
    disabled = webhooks.register_webhook(name="Rooms", resource="rooms", event="all")
    Webhook.objects.filter(pk=disabled.pk).update(status="inactive")
    delivery = WebhookDelivery.objects.create(
        webhook=active,
        dedupe_key="k1",
        resource="messages",
        event="created",
        data_id="m1",
        payload={"resource": "messages", "event": "created", "data": {"id": "m1"}},
        status="failed",
        error="ValueError: boom",
    )

    page.goto(live_server.url + "/admin/login/?next=/admin/webexteams/webhook/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "secret-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    assert page.locator(".webexteams-status-inactive").count() == 1
    assert active.secret not in page.content()
    page.screenshot(path=str(ARTIFACTS / "admin-webhooks.png"), full_page=True)

    page.goto(live_server.url + f"/admin/webexteams/webhookdelivery/{delivery.pk}/change/")
    assert '"resource": "messages"' in page.inner_text("pre.webexteams-payload")
    page.screenshot(path=str(ARTIFACTS / "admin-delivery.png"), full_page=True)

    page.goto(live_server.url + "/admin/webexteams/webhook/add/")
    page.fill("#id_name", "From Chromium")
    page.select_option("#id_resource", "memberships")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "Registered at Webex" in page.inner_text(".messagelist")
    assert Webhook.objects.filter(name="From Chromium").exclude(webex_id=None).exists()
