"""The admin writes the client covers: ``DELETE /organizations/{orgId}`` and
``PATCH /licenses/users`` (webex-admin.json), through the client and plain HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams.client import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    WebexClient,
)

from .conftest import assert_webex_error


def client_of(fake: Any, person: Any) -> WebexClient:
    return WebexClient(person.token, base_url=fake.base_url)


def consumed(fake: Any, admin: Any, license_id: str) -> int:
    return int(client_of(fake, admin).licenses.get(license_id).consumed_units or 0)


# --- DELETE /organizations/{orgId} -----------------------------------------------------------


def test_admin_deletes_a_managed_customer_org(fake_webex: Any, admin: Any) -> None:
    client = client_of(fake_webex, admin)
    customer = fake_webex.add_org("Customer Inc.")
    assert {o.id for o in client.organizations.list()} == {fake_webex.org_id, customer}
    assert client.organizations.get(customer).display_name == "Customer Inc."
    assert client.organizations.delete(customer)  # the tracking id of the 204
    with pytest.raises(NotFoundError):
        client.organizations.get(customer)
    with pytest.raises(NotFoundError):
        client.organizations.delete(customer)
    assert [o.id for o in client.organizations.list()] == [fake_webex.org_id]


def test_the_own_org_with_licenses_cannot_be_deleted(fake_webex: Any, admin: Any) -> None:
    with pytest.raises(ConflictError) as caught:
        client_of(fake_webex, admin).organizations.delete(fake_webex.org_id)
    assert "active subscriptions or licenses" in caught.value.message
    assert client_of(fake_webex, admin).organizations.get(fake_webex.org_id)


def test_an_org_with_more_than_one_user_cannot_be_deleted(fake_webex: Any, admin: Any) -> None:
    customer = fake_webex.add_org("Busy Customer")
    with fake_webex.state.lock:
        for email in ("one@customer.example", "two@customer.example"):
            fake_webex.state.create_person(email).org_id = customer
    with pytest.raises(ConflictError) as caught:
        client_of(fake_webex, admin).organizations.delete(customer)
    assert "more than 1 user" in caught.value.message


def test_deleting_an_org_removes_its_user_and_token(fake_webex: Any, admin: Any) -> None:
    customer = fake_webex.add_org("Small Customer")
    with fake_webex.state.lock:
        only = fake_webex.state.create_person("only@customer.example")
        only.org_id = customer
    client_of(fake_webex, admin).organizations.delete(customer)
    assert fake_webex.person(only.id) is None
    assert fake_webex.token_info(only.token) is None


def test_non_admins_cannot_delete_orgs(fake_webex: Any, alice: Any, api: Any) -> None:
    customer = fake_webex.add_org("Customer")
    assert_webex_error(api(alice).delete(f"/organizations/{customer}"), 403)
    assert customer in fake_webex.state.orgs


def test_unknown_org_is_404(fake_webex: Any, admin: Any, api: Any) -> None:
    assert_webex_error(api(admin).delete("/organizations/nope"), 404)


# --- PATCH /licenses/users -------------------------------------------------------------------


def test_assign_and_remove_a_license_by_person_id(fake_webex: Any, admin: Any, bob: Any) -> None:
    client = client_of(fake_webex, admin)
    adv = fake_webex.license_id("Advanced Messaging")
    messaging = fake_webex.license_id("Messaging")
    before = consumed(fake_webex, admin, adv)
    result = client.licenses.assign_to_user(
        person_id=bob.id, licenses=[{"id": adv, "operation": "add"}]
    )
    assert result.person_id == bob.id and result.email == "bob@example.com"
    assert result.org_id == fake_webex.org_id
    assert result.licenses == [messaging, adv]
    assert consumed(fake_webex, admin, adv) == before + 1
    # The person's record (as an admin sees it) holds the license too.
    assert client.people.get(bob.id).licenses == [messaging, adv]
    # Adding it again changes nothing (idempotent), removing frees the unit.
    again = client.licenses.assign_to_user(person_id=bob.id, licenses=[{"id": adv}])
    assert again.licenses == [messaging, adv]
    assert consumed(fake_webex, admin, adv) == before + 1
    removed = client.licenses.assign_to_user(
        person_id=bob.id, licenses=[{"id": adv, "operation": "remove"}]
    )
    assert removed.licenses == [messaging]
    assert consumed(fake_webex, admin, adv) == before


def test_assign_by_email_with_attendee_site(fake_webex: Any, admin: Any, bob: Any) -> None:
    meeting = fake_webex.license_id("Meeting - Webex Enterprise Edition")
    result = client_of(fake_webex, admin).licenses.assign_to_user(
        email="BOB@example.com",
        licenses=[{"id": meeting}],
        site_urls=[{"siteUrl": "fakeorg.webex.com", "accountType": "attendee"}],
    )
    # The meeting license makes Bob a host on its site; the attendee role is then moot.
    assert result.site_urls == [{"siteUrl": "fakeorg.webex.com", "accountType": "host"}]
    removed = client_of(fake_webex, admin).licenses.assign_to_user(
        email="bob@example.com", licenses=[{"id": meeting, "operation": "remove"}]
    )
    assert removed.site_urls == [{"siteUrl": "fakeorg.webex.com", "accountType": "attendee"}]


def test_no_unit_left_is_206_partial_content(
    fake_webex: Any, admin: Any, bob: Any, api: Any
) -> None:
    calling = fake_webex.license_id("Webex Calling - Professional")
    adv = fake_webex.license_id("Advanced Messaging")
    with fake_webex.state.lock:
        fake_webex.state.licenses[calling].total_units = fake_webex.state.consumed(calling)
    resp = api(admin)(
        "PATCH",
        "/licenses/users",
        json={"personId": bob.id, "licenses": [{"id": calling}, {"id": adv}]},
    )
    assert resp.status_code == 206, resp.text
    assert calling not in resp.json()["licenses"] and adv in resp.json()["licenses"]


def test_removing_frees_the_unit_for_someone_else(
    fake_webex: Any, admin: Any, bob: Any, api: Any
) -> None:
    adv = fake_webex.license_id("Advanced Messaging")
    client_of(fake_webex, admin).licenses.assign_to_user(person_id=bob.id, licenses=[{"id": adv}])
    with fake_webex.state.lock:
        fake_webex.state.licenses[adv].total_units = fake_webex.state.consumed(adv)
    carol = fake_webex.add_person("carol@example.com")
    body = {"personId": carol.id, "licenses": [{"id": adv}]}
    full = api(admin)("PATCH", "/licenses/users", json=body)
    assert full.status_code == 206 and adv not in full.json()["licenses"]
    client_of(fake_webex, admin).licenses.assign_to_user(
        person_id=bob.id, licenses=[{"id": adv, "operation": "remove"}]
    )
    freed = api(admin)("PATCH", "/licenses/users", json=body)
    assert freed.status_code == 200 and adv in freed.json()["licenses"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"licenses": [{"id": "x"}]}, 400, "email or personId"),
        ({"personId": "nobody", "licenses": []}, 404, "person"),
        ({"email": "nobody@example.com", "licenses": []}, 404, "person"),
        ({"person": "bob", "licenses": [{"id": "nope"}]}, 400, "License not recognized"),
        ({"person": "bob", "licenses": [{"operation": "add"}]}, 400, "id"),
        ({"person": "bob", "licenses": [{"id": "lic", "operation": "swap"}]}, 400, "operation"),
        ({"person": "bob", "licenses": "all"}, 400, "licenses"),
        ({"person": "bob"}, 400, "licenses"),
        (
            {
                "person": "bob",
                "siteUrls": [{"siteUrl": "evil.webex.com", "accountType": "attendee"}],
            },
            400,
            "invalid attendee siteUrls",
        ),
        (
            {
                "person": "bob",
                "siteUrls": [{"siteUrl": "fakeorg.webex.com", "accountType": "host"}],
            },
            400,
            "accountType",
        ),
        ({"person": "bob", "orgId": "other-org", "licenses": [{"id": "lic"}]}, 404, "organization"),
    ],
)
def test_bad_assignments_are_webex_errors(
    fake_webex: Any, admin: Any, bob: Any, api: Any, body: dict[str, Any], status: int, words: str
) -> None:
    body = dict(body)
    if body.pop("person", None):
        body["personId"] = bob.id
    for item in body.get("licenses") or []:
        if isinstance(item, dict) and item.get("id") == "lic":
            item["id"] = fake_webex.license_id("Advanced Messaging")
    before = list(bob.licenses)
    error = assert_webex_error(api(admin)("PATCH", "/licenses/users", json=body), status)
    assert words.lower() in (error["message"] + str(error["errors"])).lower()
    assert bob.licenses == before  # nothing applied


def test_license_errors_carry_an_error_code(fake_webex: Any, admin: Any, bob: Any) -> None:
    with pytest.raises(BadRequestError) as caught:
        client_of(fake_webex, admin).licenses.assign_to_user(
            person_id=bob.id, licenses=[{"id": "nope"}]
        )
    assert caught.value.errors[0]["errorCode"] == 400000
    assert caught.value.tracking_id


def test_only_admins_assign_licenses(fake_webex: Any, alice: Any, bob: Any) -> None:
    adv = fake_webex.license_id("Advanced Messaging")
    with pytest.raises(ForbiddenError):
        client_of(fake_webex, alice).licenses.assign_to_user(
            person_id=bob.id, licenses=[{"id": adv}]
        )
    assert adv not in bob.licenses


def test_assigning_needs_the_people_write_scope(fake_webex: Any, admin: Any, bob: Any) -> None:
    adv = fake_webex.license_id("Advanced Messaging")
    fake_webex.enforce_scopes = True
    reader = fake_webex.issue_token(admin, scopes=["spark-admin:licenses_read"])
    writer = fake_webex.issue_token(admin, scopes=["spark-admin:people_write"])
    with pytest.raises(ForbiddenError):
        WebexClient(reader, base_url=fake_webex.base_url).licenses.assign_to_user(
            person_id=bob.id, licenses=[{"id": adv}]
        )
    result = WebexClient(writer, base_url=fake_webex.base_url).licenses.assign_to_user(
        person_id=bob.id, licenses=[{"id": adv}]
    )
    assert adv in (result.licenses or [])
