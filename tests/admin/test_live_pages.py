"""The live admin pages (spaces, licenses) with the Django test client against the fake Webex."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from django_webexteams.client import License as WebexLicense
from django_webexteams.client import Organization
from django_webexteams.models import Credential, OutboundMessage
from tests.admin.conftest import World, messages_of

pytestmark = pytest.mark.django_db

SPACES = reverse("admin:webexteams_spaces")
LICENSES = reverse("admin:webexteams_licenses")


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def titles(response: Any) -> list[str]:
    return [row["room"].title for row in response.context["rows"]]


# --- permissions ---------------------------------------------------------------------------


def _page_urls(world: World) -> list[str]:
    return [
        SPACES,
        LICENSES,
        reverse("admin:webexteams_space_detail", args=["some-room"]),
        reverse("admin:webexteams_license_detail", args=["some-license"]),
    ]


def test_url_names_and_changelist_aliases() -> None:
    assert reverse("admin:webexteams_space_changelist") == SPACES
    assert reverse("admin:webexteams_license_changelist") == LICENSES


def test_anonymous_is_sent_to_the_login_page(client: Client, world: World) -> None:
    for url in _page_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    assert not world.fake.requests  # nothing was fetched for them


def test_staff_without_the_permission_gets_403(world: World, staff_plain: Any) -> None:
    client = login(staff_plain)
    for url in _page_urls(world):
        assert client.get(url).status_code == 403, url
    assert not world.fake.requests


def test_staff_with_the_view_permissions(world: World, spaces: Any, staff_viewer: Any) -> None:
    client = login(staff_viewer)
    response = client.get(SPACES)
    assert response.status_code == 200
    assert titles(response) == [f"Space {i}" for i in range(1, 8)]
    assert client.get(LICENSES).status_code == 200
    detail = client.get(reverse("admin:webexteams_space_detail", args=[spaces[0].id]))
    assert detail.status_code == 200
    # Viewing does not include posting: that needs webexteams.add_outboundmessage.
    assert detail.context["form"] is None
    assert client.post(detail.request["PATH_INFO"], {"markdown": "hi"}).status_code == 403
    assert not OutboundMessage.objects.exists()


def test_superuser_sees_both_pages(world: World, spaces: Any, su_client: Client) -> None:
    assert su_client.get(SPACES).status_code == 200
    assert su_client.get(LICENSES).status_code == 200


def test_admin_index_links_the_pages_only_for_those_allowed(
    world: World, staff_plain: Any, staff_viewer: Any
) -> None:
    index = reverse("admin:index")
    page = login(staff_viewer).get(index).content.decode()
    assert f'href="{SPACES}"' in page and f'href="{LICENSES}"' in page
    assert "Webex spaces (live)" in page
    page = login(staff_plain).get(index).content.decode()
    assert SPACES not in page and LICENSES not in page


# --- spaces: pagination, filters, search, sort ----------------------------------------------


def test_next_and_previous_walk_three_pages_of_the_fake(
    world: World, spaces: Any, su_client: Client
) -> None:
    first = su_client.get(SPACES + "?max=3")
    assert titles(first) == ["Space 1", "Space 2", "Space 3"]
    assert first.context["previous_url"] is None

    second = su_client.get(SPACES + first.context["next_url"])
    assert titles(second) == ["Space 4", "Space 5", "Space 6"]
    assert second.context["page_number"] == 2

    third = su_client.get(SPACES + second.context["next_url"])
    assert titles(third) == ["Space 7"]
    assert third.context["next_url"] is None
    assert 'id="webex-next"' not in third.content.decode()
    # The query string keeps the whole stack of cursors: Previous goes back one page.
    assert len(parse_qs(urlsplit(third.context["next_url"] or "?").query).get("c", [])) == 0
    assert len(third.context["cursors"]) == 2

    back = su_client.get(SPACES + third.context["previous_url"])
    assert titles(back) == ["Space 4", "Space 5", "Space 6"]
    back = su_client.get(SPACES + back.context["previous_url"])
    assert titles(back) == ["Space 1", "Space 2", "Space 3"]
    # Every page was a real request to the fake with max=3, following its cursors.
    rooms_requests = [r for r in world.fake.requests if r.path == "/rooms"]
    assert len(rooms_requests) == 5


def test_next_keeps_the_filters(world: World, spaces: Any, su_client: Client) -> None:
    first = su_client.get(SPACES + "?max=2&type=group&sort=created")
    second = su_client.get(SPACES + first.context["next_url"])
    query = parse_qs(urlsplit(first.context["next_url"]).query)
    assert query["type"] == ["group"] and query["sort"] == ["created"]
    last = [r for r in world.fake.requests if r.path == "/rooms"][-1]
    assert last.query["type"] == ["group"] and last.query["sortBy"] == ["created"]
    assert len(titles(second)) == 2


def test_type_filter(world: World, spaces: Any, su_client: Client) -> None:
    world.fake.post_message(world.alice, to_person=world.bot, text="hello bot")
    direct = su_client.get(SPACES + "?type=direct")
    assert [row["room"].type for row in direct.context["rows"]] == ["direct"]
    group = su_client.get(SPACES + "?type=group")
    assert {row["room"].type for row in group.context["rows"]} == {"group"}
    assert len(group.context["rows"]) == 7


def test_search_within_the_fetched_page(world: World, spaces: Any, su_client: Client) -> None:
    response = su_client.get(SPACES + "?q=space 7")
    assert titles(response) == ["Space 7"]
    # Only what was fetched: with a page of 3, "Space 7" is not on page 1.
    assert titles(su_client.get(SPACES + "?q=space 7&max=3")) == []


def test_sort_by_column(world: World, spaces: Any, su_client: Client) -> None:
    descending = su_client.get(SPACES + "?o=-title")
    assert titles(descending) == [f"Space {i}" for i in range(7, 0, -1)]
    ascending = su_client.get(SPACES + "?o=title")
    assert titles(ascending) == sorted(titles(ascending))
    column = next(c for c in ascending.context["columns"] if c["sorted"])
    assert "o=-title" in column["url"]


def test_a_cursor_in_the_query_string_cannot_change_host_or_path(
    world: World, spaces: Any, su_client: Client
) -> None:
    evil = "c=" + "http%3A%2F%2Fevil.example%2Fsteal%3Fcursor%3Dx"
    response = su_client.get(SPACES + "?" + evil)
    assert response.status_code == 200
    assert world.fake.requests[-1].path == "/rooms"


# --- the acting credential ------------------------------------------------------------------


def test_only_bots_and_my_own_account_are_offered(
    world: World, spaces: Any, su_client: Client, superuser: Any, django_user_model: Any
) -> None:
    someone = django_user_model.objects.create_user(username="someone", password="pw")
    theirs = Credential.objects.create(
        kind="user", owner=someone, webex_person_id=world.alice.id, access_token=world.alice.token
    )
    mine = Credential.objects.create(
        kind="user", owner=superuser, webex_person_id=world.alice.id, access_token=world.alice.token
    )
    bot_row = Credential.objects.create(kind="bot", name="Stored bot", access_token=world.bot.token)
    response = su_client.get(SPACES)
    keys = [c.key for c in response.context["choices"]]
    assert keys == ["bot", str(bot_row.pk), str(mine.pk)]
    refused = su_client.get(SPACES + f"?credential={theirs.pk}")
    assert "not available" in " ".join(messages_of(refused))
    assert refused.context["choice"].key == "bot"
    assert "Space 1" in titles(su_client.get(SPACES + f"?credential={mine.pk}"))


def test_no_credential_at_all_is_a_message(world: World, su_client: Client, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": None}
    response = su_client.get(SPACES)
    assert response.status_code == 200
    assert "No Webex credential" in " ".join(messages_of(response))


# --- Webex errors are messages, never a 500 --------------------------------------------------


def test_expired_token_401(world: World, su_client: Client, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKEN": "expired-or-revoked-token"}
    for url in (SPACES, LICENSES, reverse("admin:webexteams_space_detail", args=["r"])):
        response = su_client.get(url)
        assert response.status_code == 200
        text = " ".join(messages_of(response))
        assert "401 Unauthorized" in text and "expired" in text
        assert "expired-or-revoked-token" not in response.content.decode()


def test_missing_admin_scope_403(world: World, su_client: Client) -> None:
    # The bot is no administrator: Webex refuses /licenses.
    response = su_client.get(LICENSES)
    assert response.status_code == 200
    text = " ".join(messages_of(response))
    assert "403 Forbidden" in text and "spark-admin" in text
    assert response.context["rows"] == []


def test_rate_limited_429(world: World, spaces: Any, su_client: Client) -> None:
    world.fake.fail_next(429, retry_after=7, path="/rooms")
    response = su_client.get(SPACES)
    assert response.status_code == 200
    text = " ".join(messages_of(response))
    assert "rate-limiting" in text and "7 seconds" in text
    assert "tracking id" in text
    assert su_client.get(SPACES).context["rows"]  # the next attempt works


def test_locked_423(world: World, spaces: Any, su_client: Client) -> None:
    world.fake.fail_next(423, retry_after=4, path="/rooms")
    response = su_client.get(SPACES)
    assert response.status_code == 200
    assert "423 Locked" in " ".join(messages_of(response))


def test_webex_unreachable(world: World, su_client: Client, settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "API_BASE_URL": "http://127.0.0.1:9/v1"}
    response = su_client.get(SPACES)
    assert response.status_code == 200
    assert "Could not reach Webex" in " ".join(messages_of(response))


# --- a space's page ---------------------------------------------------------------------------


def test_space_detail_as_the_bot_shows_what_webex_allows(
    world: World, spaces: Any, su_client: Client
) -> None:
    room = spaces[0]
    world.fake.post_message(world.alice, room.id, text="not for the bot")
    world.fake.post_message(world.alice, room.id, text="hello bot", mentions=[world.bot])
    response = su_client.get(reverse("admin:webexteams_space_detail", args=[room.id]))
    assert response.status_code == 200
    assert response.context["room"].title == "Space 1"
    members = {m.person_email for m in response.context["members"]}
    assert members == {"alice@example.com", world.bot.email}
    # Bots may only read messages that mention them in group spaces.
    assert "only the messages that mention them" in response.context["messages_note"]
    texts = [m.text for m in response.context["latest"]]
    assert len(texts) == 1 and "hello bot" in texts[0]


def test_space_detail_as_my_own_account_shows_all_messages(
    world: World, spaces: Any, su_client: Client, superuser: Any
) -> None:
    mine = Credential.objects.create(
        kind="user", owner=superuser, webex_person_id=world.alice.id, access_token=world.alice.token
    )
    room = spaces[0]
    world.fake.post_message(world.alice, room.id, text="first")
    world.fake.post_message(world.alice, room.id, text="second")
    url = reverse("admin:webexteams_space_detail", args=[room.id]) + f"?credential={mine.pk}"
    response = su_client.get(url)
    assert [m.text for m in response.context["latest"]] == ["second", "first"]
    assert response.context["messages_note"] == ""


def test_unknown_space_is_a_message(world: World, su_client: Client) -> None:
    response = su_client.get(reverse("admin:webexteams_space_detail", args=["nope"]))
    assert response.status_code == 200
    assert "Not found" in " ".join(messages_of(response))


def test_post_a_message_through_send_message(
    world: World,
    spaces: Any,
    su_client: Client,
    enqueued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    room = spaces[0]
    url = reverse("admin:webexteams_space_detail", args=[room.id]) + "?credential=bot"
    with django_capture_on_commit_callbacks(execute=True):
        response = su_client.post(url, {"markdown": "**Hello** from the admin"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    row = OutboundMessage.objects.get()
    assert row.room_id == room.id and row.markdown == "**Hello** from the admin"
    assert row.credential is None  # the settings bot
    assert enqueued == [row.pk]
    assert "Message queued" in " ".join(messages_of(response))


def test_post_message_errors_stay_on_the_form(
    world: World, spaces: Any, su_client: Client, enqueued: list[int]
) -> None:
    url = reverse("admin:webexteams_space_detail", args=[spaces[0].id])
    response = su_client.post(url, {"markdown": ""})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not OutboundMessage.objects.exists()


# --- licenses ---------------------------------------------------------------------------------


def test_licenses_with_an_administrators_token(
    world: World, su_client: Client, admin_credential: Credential
) -> None:
    response = su_client.get(LICENSES + f"?credential={admin_credential.pk}")
    assert response.status_code == 200
    assert messages_of(response) == []
    rows = {row["license"].name: row for row in response.context["rows"]}
    messaging = rows["Messaging"]
    # Alice and the admin hold Messaging; bots hold no license.
    assert messaging["consumed"] == 2
    assert messaging["total"] >= 2
    assert messaging["percent"] == round(200 / messaging["total"], 1)
    html = response.content.decode()
    assert 'class="webex-usage' in html and f"width: {messaging['percent']}%" in html
    # One organisation: no picker.
    assert response.context["show_org_picker"] is False


def test_license_detail_lists_holders_by_scanning_people(
    world: World, su_client: Client, admin_credential: Credential
) -> None:
    world.fake.quirks.license_users_unsupported = True  # where Webex gives no holders
    license_id = world.fake.license_id("Messaging")
    url = reverse("admin:webexteams_license_detail", args=[license_id])
    response = su_client.get(url + f"?credential={admin_credential.pk}")
    assert response.status_code == 200
    emails = {h["email"] for h in response.context["holders"]}
    assert emails == {"alice@example.com", "boss@example.com"}
    assert response.context["source"] == "scan"
    assert "checked one by one" in response.content.decode()


def test_license_detail_lists_the_holders_the_fake_gives(
    world: World, su_client: Client, admin_credential: Credential
) -> None:
    # The fake answers includeAssignedTo=user as Webex does: no people scan is needed.
    license_id = world.fake.license_id("Messaging")
    url = reverse("admin:webexteams_license_detail", args=[license_id])
    before = len(world.fake.requests)
    response = su_client.get(url + f"?credential={admin_credential.pk}")
    assert response.status_code == 200
    assert response.context["source"] == "webex"
    holders = {(h["email"], h["type"]) for h in response.context["holders"]}
    assert holders == {("alice@example.com", "INTERNAL"), ("boss@example.com", "INTERNAL")}
    assert [r.path for r in world.fake.requests[before:]] == [f"/licenses/{license_id}"]


def test_license_detail_uses_the_holders_webex_gives(
    world: World, su_client: Client, admin_credential: Credential, monkeypatch: Any
) -> None:
    from django_webexteams.client.resources.licenses import LicensesResource

    given = WebexLicense.from_json(
        {
            "id": "L1",
            "name": "Meetings",
            "totalUnits": 10,
            "consumedUnits": 1,
            "users": [{"id": "P1", "displayName": "Carol", "email": "carol@example.com"}],
        }
    )
    monkeypatch.setattr(LicensesResource, "get", lambda self, license_id, **kw: given)
    url = reverse("admin:webexteams_license_detail", args=["L1"])
    response = su_client.get(url + f"?credential={admin_credential.pk}")
    assert response.context["source"] == "webex"
    assert [h["email"] for h in response.context["holders"]] == ["carol@example.com"]
    assert response.context["percent"] == 10.0


def test_organisation_picker_when_several_are_visible(
    world: World, su_client: Client, admin_credential: Credential, monkeypatch: Any
) -> None:
    from django_webexteams.client.resources.organizations import OrganizationsResource

    orgs = [
        Organization.from_json({"id": world.fake.org_id, "displayName": "Home"}),
        Organization.from_json({"id": "ORG2", "displayName": "Customer"}),
    ]
    monkeypatch.setattr(OrganizationsResource, "list", lambda self: iter(orgs))
    response = su_client.get(LICENSES + f"?credential={admin_credential.pk}")
    assert response.context["show_org_picker"] is True
    assert 'name="org"' in response.content.decode()
    # The fake answers another org's licenses with an empty list.
    other = su_client.get(LICENSES + f"?credential={admin_credential.pk}&org=ORG2")
    assert other.context["org_id"] == "ORG2"
    assert other.context["rows"] == []
    last = [r for r in world.fake.requests if r.path == "/licenses"][-1]
    assert last.query["orgId"] == ["ORG2"]
    unknown = su_client.get(LICENSES + f"?credential={admin_credential.pk}&org=ORG3")
    assert "not visible" in " ".join(messages_of(unknown))


# --- ids from the request (issue 16): never a 500 ---------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["\u00b2", "\u0661\u0662", "1_0", " 1", "-1", "9" * 40, "\x00", "%", "../x", "' OR 1=1 --", ""],
)
def test_live_pages_take_hostile_ids_without_500(
    world: World, spaces: Any, su_client: Client, value: str
) -> None:
    from urllib.parse import quote

    for name in ("admin:webexteams_spaces", "admin:webexteams_licenses"):
        for param in ("max", "credential", "c", "type", "sort", "o", "q", "org"):
            response = su_client.get(reverse(name), {param: value})
            assert response.status_code == 200, (name, param)
    for detail in ("admin:webexteams_space_detail", "admin:webexteams_license_detail"):
        url = reverse(detail, args=["x"]).replace("/x/", f"/{quote(value, safe='')}/")
        response = su_client.get(url, {"credential": value, "max": value})
        assert response.status_code < 500, (detail, value)
    for model in ("credential", "webhook", "webhookdelivery", "outboundmessage"):
        changelist = reverse(f"admin:webexteams_{model}_changelist")
        assert su_client.get(changelist, {"p": value, "o": value}).status_code < 500
        change = changelist + quote(value or "x", safe="") + "/change/"
        assert su_client.get(change).status_code < 500, (model, value)
