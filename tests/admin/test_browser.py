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

    # Issue 15: the first visit (no credential picked) acts as the staff member's own
    # account, not as the default bot that Webex refuses: no red 403, licenses shown, and
    # one line says which credential to choose and why.
    page.goto(live_server.url + "/admin/webexteams/license/")
    page.wait_for_selector("tr.webex-license")
    assert page.locator(".messagelist").count() == 0
    assert page.input_value("#id_credential") == str(admin_account.pk)
    assert "never lets a bot read licenses" in page.inner_text("#webex-license-hint")

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


def _long_id(kind: str, n: int) -> str:
    """A real-looking Webex id: base64 of ciscospark://us/KIND/<uuid> (76-80 characters)."""
    import base64
    import uuid

    raw = f"ciscospark://us/{kind}/{uuid.UUID(int=n + 0xABCDEF)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_changelists_fit_a_1280px_screen_with_real_webex_ids(
    page: Any, live_server: Any, world: World, django_user_model: Any
) -> None:
    """Issue 15: an 80-character room id pushed Status off a 1280 px screen. Ids are shown
    shortened (the full id in the tooltip, and searchable); every column stays in view."""
    from django_webexteams.models import OutboundMessage

    django_user_model.objects.create_superuser("staff", "staff@example.com", "secret-pw")
    hook = webhooks.register_webhook(name="Messages", resource="messages", event="created")
    room = _long_id("ROOM", 1)
    for n in range(3):
        message = _long_id("MESSAGE", n)
        OutboundMessage.objects.create(
            room_id=room, text="x", status="sent", webex_message_id=message, attempts=1
        )
        WebhookDelivery.objects.create(
            webhook=hook, dedupe_key=f"k{n}", resource="messages", event="created",
            data_id=message, actor_id=_long_id("PEOPLE", n), payload={}, status="processed",
        )  # fmt: skip
    Credential.objects.create(
        kind="bot", webex_person_id=_long_id("PEOPLE", 9), access_token="t" * 40
    )

    page.goto(live_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "secret-pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    for model, needed in [
        ("outboundmessage", ["status", "target", "sent_at"]),
        ("webhookdelivery", ["status", "data_id_short", "processed_at"]),
        ("credential", ["kind", "is_active", "expires_at"]),
    ]:
        page.goto(f"{live_server.url}/admin/webexteams/{model}/")
        page.wait_for_selector("#result_list")
        page.screenshot(path=str(ARTIFACTS / f"admin-{model}-1280.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"{model}: the page is {width} px wide"
        for column in needed:
            box = page.locator(f"#result_list th.column-{column}").bounding_box()
            assert box is not None, f"{model}: no {column} column"
            assert box["x"] + box["width"] <= 1280, f"{model}: {column} is off screen"
    page.goto(f"{live_server.url}/admin/webexteams/outboundmessage/")
    cell = page.locator("#result_list td.field-target span").first
    assert cell.get_attribute("title") == room
    assert len(cell.inner_text()) < 30
    page.goto(f"{live_server.url}/admin/webexteams/outboundmessage/?q={room}")
    assert page.locator("#result_list tbody tr").count() == 3


def test_short_webex_id_keeps_the_kind_and_the_start_of_the_uuid() -> None:
    from django_webexteams.admin.columns import short_webex_id

    room = _long_id("ROOM", 1)
    html = short_webex_id(room)
    assert f'title="{room}"' in html and ">ROOM 00000000…<" in html
    assert short_webex_id("short-id") == "short-id"
    assert short_webex_id("") == "—"
    assert "…" + "x" * 12 in short_webex_id("x" * 40)
