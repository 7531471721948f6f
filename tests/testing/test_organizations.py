"""Several organizations in one fake: people, licenses, rooms, webhooks and compliance events
belong to their organization, and another organization's administrator is answered as Webex
answers one (404 for what it may not see, the directory entry without roles and licenses)."""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams.client import NotFoundError, RetryPolicy, WebexClient
from django_webexteams.testing import FakeWebex, Organization

from .conftest import Api, assert_webex_error


class Tenants:
    def __init__(self, fake: FakeWebex) -> None:
        self.fake = fake
        self.globex = fake.add_organization("Globex")
        self.acme_admin = fake.add_admin("admin@acme.example")
        self.acme_user = fake.add_person("user@acme.example", "Acme User")
        self.acme_officer = fake.add_compliance_officer("officer@acme.example")
        self.globex_admin = fake.add_admin("admin@globex.example", org=self.globex)
        self.globex_user = fake.add_person("user@globex.example", "Globex User", org=self.globex)
        self.globex_officer = fake.add_compliance_officer("officer@globex.example", org=self.globex)
        self.globex_bot = fake.add_bot("Globex Bot", org=self.globex)

    def api(self, person: Any) -> Api:
        return Api(self.fake.base_url, person.token)


@pytest.fixture
def t(fake_webex: FakeWebex) -> Tenants:
    return Tenants(fake_webex)


def test_an_organization_has_its_own_people_licenses_and_tokens(t: Tenants) -> None:
    fake = t.fake
    assert isinstance(t.globex, Organization) and t.globex.id != fake.org_id
    assert t.globex_user.org_id == t.globex.id and t.acme_user.org_id == fake.org_id
    assert t.globex_bot.org_id == t.globex.id and t.globex_bot.is_bot
    # The same license names, other ids; a new person gets their own org's Messaging.
    acme_msg = fake.license_id("Messaging")
    globex_msg = fake.license_id("Messaging", org=t.globex)
    assert acme_msg != globex_msg
    assert t.globex_user.licenses == [globex_msg] and t.acme_user.licenses == [acme_msg]
    # Tokens are shaped like Webex's: they end with their organization's uuid.
    assert t.globex_user.token.endswith("_PF84_" + t.globex.uuid)
    assert t.acme_user.token.endswith("_PF84_" + fake.state.org.uuid)
    with pytest.raises(ValueError, match="no such organization"):
        fake.add_person("x@example.com", org="nope")


def test_the_single_organization_api_is_unchanged(fake_webex: FakeWebex) -> None:
    alice = fake_webex.add_person("alice@example.com")
    bot = fake_webex.add_bot("Helper")
    assert alice.org_id == bot.org_id == fake_webex.org_id
    assert alice.licenses == [fake_webex.license_id("Messaging")]


def test_organizations_are_not_visible_to_each_other(t: Tenants) -> None:
    resp = t.api(t.acme_admin).get("/organizations")
    assert [o["id"] for o in resp.json()["items"]] == [t.fake.org_id]
    assert_webex_error(t.api(t.acme_admin).get(f"/organizations/{t.globex.id}"), 404)
    resp = t.api(t.globex_admin).get(f"/organizations/{t.globex.id}")
    assert resp.json()["displayName"] == "Globex"


def test_licenses_are_per_organization(t: Tenants) -> None:
    acme = t.api(t.acme_admin).get("/licenses").json()["items"]
    globex = t.api(t.globex_admin).get("/licenses").json()["items"]
    assert {x["name"] for x in acme} == {x["name"] for x in globex}
    assert not {x["id"] for x in acme} & {x["id"] for x in globex}
    assert {x["subscriptionId"] for x in acme} != {x["subscriptionId"] for x in globex}
    # Another organization's licenses: none listed, and 404 for one of them.
    resp = t.api(t.acme_admin).get("/licenses", params={"orgId": t.globex.id})
    assert resp.status_code == 200 and resp.json()["items"] == []
    assert_webex_error(t.api(t.acme_admin).get(f"/licenses/{globex[0]['id']}"), 404)
    # consumedUnits counts the organization's own holders.
    messaging = next(x for x in globex if x["name"] == "Messaging")
    assert messaging["consumedUnits"] == 3  # admin, user, officer (the bot holds none)


def test_people_lists_are_per_organization(t: Tenants) -> None:
    emails = {p["emails"][0] for p in t.api(t.acme_admin).get("/people").json()["items"]}
    assert emails == {"admin@acme.example", "user@acme.example", "officer@acme.example"}
    # The directory search by e-mail reaches other organizations, without roles/licenses.
    found = t.api(t.acme_admin).get("/people", params={"email": "user@globex.example"}).json()
    (entry,) = found["items"]
    assert entry["orgId"] == t.globex.id and "licenses" not in entry and "roles" not in entry
    mine = t.api(t.globex_admin).get(f"/people/{t.globex_user.id}").json()
    assert mine["licenses"] == t.globex_user.licenses
    theirs = t.api(t.acme_admin).get(f"/people/{t.globex_user.id}").json()
    assert "licenses" not in theirs and theirs["displayName"] == "Globex User"
    # orgId of another (unmanaged) organization: refused.
    resp = t.api(t.acme_admin).get("/people", params={"orgId": t.globex.id})
    assert_webex_error(resp, 403)
    resp = t.api(t.globex_admin).get("/people", params={"orgId": t.globex.id})
    assert len(resp.json()["items"]) == 4


def test_another_organizations_people_cannot_be_administered(t: Tenants) -> None:
    acme = t.api(t.acme_admin)
    assert_webex_error(
        acme.put(f"/people/{t.globex_user.id}", json={"displayName": "Hijacked"}), 404
    )
    assert_webex_error(acme.delete(f"/people/{t.globex_user.id}"), 404)
    resp = acme.patch(
        "/licenses/users",
        json={
            "personId": t.globex_user.id,
            "licenses": [{"id": t.fake.license_id("Advanced Messaging", org=t.globex)}],
        },
    )
    assert_webex_error(resp, 404)
    resp = acme.post("/people", json={"emails": ["new@globex.example"], "orgId": t.globex.id})
    assert_webex_error(resp, 404)
    assert t.fake.person(t.globex_user.id) is not None
    assert t.fake.person(t.globex_user.id).display_name == "Globex User"  # type: ignore[union-attr]


def test_another_organizations_license_cannot_be_given(t: Tenants) -> None:
    foreign = t.fake.license_id("Advanced Messaging", org=t.globex)
    acme = t.api(t.acme_admin)
    resp = acme.patch(
        "/licenses/users", json={"personId": t.acme_user.id, "licenses": [{"id": foreign}]}
    )
    body = assert_webex_error(resp, 400)
    assert body["errors"][0]["errorCode"] == 400000
    resp = acme.post("/people", json={"emails": ["n@acme.example"], "licenses": [foreign]})
    assert_webex_error(resp, 400)
    resp = acme.put(f"/people/{t.acme_user.id}", json={"displayName": "U", "licenses": [foreign]})
    assert_webex_error(resp, 400)
    # Its own organization's: fine.
    globex = t.api(t.globex_admin)
    resp = globex.patch(
        "/licenses/users", json={"personId": t.globex_user.id, "licenses": [{"id": foreign}]}
    )
    assert resp.status_code == 200 and foreign in resp.json()["licenses"]


def test_a_new_person_joins_the_admins_organization(t: Tenants) -> None:
    resp = t.api(t.globex_admin).post("/people", json={"emails": ["new@globex.example"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["orgId"] == t.globex.id
    assert resp.json()["licenses"] == [t.fake.license_id("Messaging", org=t.globex)]


def test_compliance_events_are_per_organization(t: Tenants) -> None:
    t.fake.create_room(t.acme_user, "Acme only")
    t.fake.create_room(t.globex_user, "Globex only")
    acme = t.api(t.acme_officer).get("/events", params={"resource": "rooms"}).json()["items"]
    globex = t.api(t.globex_officer).get("/events", params={"resource": "rooms"}).json()
    assert [e["data"]["title"] for e in acme] == ["Acme only"]
    assert [e["data"]["title"] for e in globex["items"]] == ["Globex only"]
    assert {e["orgId"] for e in acme} == {t.fake.org_id}
    other = globex["items"][0]["id"]
    assert_webex_error(t.api(t.acme_officer).get(f"/events/{other}"), 404)
    assert t.api(t.globex_officer).get(f"/events/{other}").status_code == 200


def test_people_of_two_organizations_share_a_space(t: Tenants) -> None:
    room = t.fake.create_room(t.acme_user, "Joint", members=[t.globex_user])
    t.fake.post_message(t.globex_user, room.id, text="hello from Globex")
    msgs = t.api(t.acme_user).get("/messages", params={"roomId": room.id}).json()["items"]
    assert [m["text"] for m in msgs] == ["hello from Globex"]
    members = t.api(t.globex_user).get("/memberships", params={"roomId": room.id}).json()
    orgs = {m["personEmail"]: m["personOrgId"] for m in members["items"]}
    assert orgs == {"user@acme.example": t.fake.org_id, "user@globex.example": t.globex.id}
    assert t.api(t.globex_user).get(f"/rooms/{room.id}").json()["ownerId"] == t.fake.org_id


def test_org_public_spaces_are_the_callers_organizations(t: Tenants) -> None:
    t.fake.create_room(t.acme_admin, "Acme public", isPublic=True, description="open")
    t.fake.create_room(t.acme_admin, "Acme private")
    t.fake.create_room(t.globex_admin, "Globex public", isPublic=True, description="open")
    seen = t.api(t.acme_user).get("/rooms", params={"orgPublicSpaces": "true"}).json()
    assert [r["title"] for r in seen["items"]] == ["Acme public"]  # joined or not
    seen = t.api(t.globex_user).get("/rooms", params={"orgPublicSpaces": "true"}).json()
    assert [r["title"] for r in seen["items"]] == ["Globex public"]


def test_org_wide_webhooks_hear_their_own_organization_only(t: Tenants) -> None:
    hook = t.api(t.acme_admin).post(
        "/webhooks",
        json={
            "name": "acme org",
            "targetUrl": "http://127.0.0.1:9/acme",
            "resource": "rooms",
            "event": "created",
            "ownedBy": "org",
        },
    )
    assert hook.status_code == 200, hook.text
    hook_id = hook.json()["id"]
    t.fake.create_room(t.globex_user, "Globex activity")
    t.fake.create_room(t.acme_user, "Acme activity")
    t.fake.wait_for_idle()
    titles = [d.payload["data"]["title"] for d in t.fake.deliveries]
    assert titles == ["Acme activity"]
    assert t.fake.deliveries[0].payload["orgId"] == t.fake.org_id
    # Another organization's administrator does not see (or change) the org webhook.
    assert t.api(t.globex_admin).get("/webhooks").json()["items"] == []
    assert_webex_error(t.api(t.globex_admin).get(f"/webhooks/{hook_id}"), 404)
    assert_webex_error(t.api(t.globex_admin).delete(f"/webhooks/{hook_id}"), 404)
    assert t.api(t.acme_admin).get(f"/webhooks/{hook_id}").status_code == 200


def test_the_client_with_one_credential_per_tenant(t: Tenants) -> None:
    def client(person: Any) -> WebexClient:
        return WebexClient(person.token, base_url=t.fake.base_url, retry=RetryPolicy(max_retries=0))

    with client(t.acme_admin) as acme, client(t.globex_admin) as globex:
        assert acme.people.me().org_id == t.fake.org_id
        assert globex.people.me().org_id == t.globex.id
        globex_people = {p.email for p in globex.people.list(org_id=t.globex.id)}
        assert "user@acme.example" not in globex_people and len(globex_people) == 4
        lic = next(iter(globex.licenses.list()))
        with pytest.raises(NotFoundError):
            acme.licenses.get(lic.id)
        assert globex.licenses.get(lic.id).id == lic.id
