"""The live license pages with credentials of two Webex organizations (the fake's
``add_organization``): each credential sees its own organization's licenses and holders."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_webexteams.models import Credential
from tests.admin.conftest import World, messages_of

pytestmark = pytest.mark.django_db

LICENSES = reverse("admin:webexteams_licenses")


@pytest.fixture
def globex(world: World, superuser: Any) -> tuple[Any, Credential]:
    org = world.fake.add_organization("Globex")
    admin = world.fake.add_admin("admin@globex.example", "Globex Admin", org=org)
    world.fake.add_person("user@globex.example", org=org)
    credential = Credential.objects.create(
        kind=Credential.Kind.USER,
        owner=superuser,
        webex_person_id=admin.id,
        email=admin.email,
        display_name="Globex Admin",
        access_token=admin.token,
    )
    return org, credential


def test_each_credential_lists_its_own_organizations_licenses(
    world: World, su_client: Client, admin_credential: Credential, globex: Any
) -> None:
    org, globex_credential = globex
    acme = su_client.get(LICENSES + f"?credential={admin_credential.pk}")
    other = su_client.get(LICENSES + f"?credential={globex_credential.pk}")
    acme_ids = {row["license"].id for row in acme.context["rows"]}
    globex_ids = {row["license"].id for row in other.context["rows"]}
    assert acme_ids and globex_ids and not acme_ids & globex_ids
    assert world.fake.license_id("Messaging", org=org) in globex_ids
    messaging = next(r for r in other.context["rows"] if r["license"].name == "Messaging")
    assert messaging["consumed"] == 2  # Globex's admin and user, not Acme's people
    # Neither organization sees the other in its picker.
    assert other.context["show_org_picker"] is False


def test_a_license_of_another_organization_is_not_shown(
    world: World, su_client: Client, admin_credential: Credential, globex: Any
) -> None:
    org, globex_credential = globex
    lic = world.fake.license_id("Messaging", org=org)
    url = reverse("admin:webexteams_license_detail", args=[lic])
    mine = su_client.get(url + f"?credential={globex_credential.pk}")
    assert mine.context["source"] == "webex"
    assert {h["email"] for h in mine.context["holders"]} == {
        "admin@globex.example",
        "user@globex.example",
    }
    theirs = su_client.get(url + f"?credential={admin_credential.pk}")
    assert theirs.status_code == 200
    assert theirs.context["holders"] == [] and theirs.context["license"] is None
    assert messages_of(theirs)  # the 404 is reported to staff
