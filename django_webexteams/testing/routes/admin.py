"""Admin APIs: /organizations, /licenses, /roles (administrators only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ..errors import WebexError, bad_request, conflict, missing, not_found
from ..ids import decode_id, make_id
from ..pagination import paginate
from ..state import License, Organization, Person
from . import router
from .base import Ctx, items, no_content, ok

_NO_ORG = "Could not find an organization with provided ID."


@router.route("GET", "/organizations")
def list_orgs(ctx: Ctx) -> Any:
    ctx.require_admin()
    return items([o.to_json() for o in ctx.state.visible_orgs(ctx.me)])


def _visible_org(ctx: Ctx, org_id: str) -> Organization:
    org = ctx.state.orgs.get(org_id)
    if org is None or org not in ctx.state.visible_orgs(ctx.me):
        # Webex does not reveal organizations the caller may not see.
        raise not_found(_NO_ORG)
    return org


@router.route("GET", "/organizations/{id}")
def get_org(ctx: Ctx) -> Any:
    ctx.require_admin()
    return ok(_visible_org(ctx, ctx.params["id"]).to_json())


@router.route("DELETE", "/organizations/{id}")
def delete_org(ctx: Ctx) -> Any:
    """Delete Organization: full administrators only; 409 with Webex's reasons when the
    organization still has licenses, more than one user or managed organizations
    (webex-admin.json, "Delete Organization"). Deleted at once here (Webex: up to 10 min)."""
    ctx.require_admin()
    org = _visible_org(ctx, ctx.params["id"])
    state = ctx.state
    if state.licenses_of(org.id):
        # An organization with a subscription (the fake's own, add_organization's) holds
        # its licenses.
        raise conflict("Org cannot be deleted as it has active subscriptions or licenses.")
    people = [p for p in state.people.values() if p.org_id == org.id]
    if len(people) > 1:
        raise conflict("Org cannot be deleted as it has more than 1 user.")
    if any(o.managed_by == org.id for o in state.orgs.values()):
        raise conflict("Org cannot be deleted as it has managed orgs.")
    for person in people:
        del state.people[person.id]
        for value in [t for t, tok in state.tokens.items() if tok.person_id == person.id]:
            del state.tokens[value]
    del state.orgs[org.id]
    return no_content()


@router.route("GET", "/licenses")
def list_licenses(ctx: Ctx) -> Any:
    ctx.require_admin()
    org_id = ctx.req.arg("orgId") or ctx.me.org_id
    if not ctx.state.administers(ctx.me, org_id):
        # Another organization's licenses (not a customer the caller's org manages): none.
        return items([])
    lics = ctx.state.licenses_of(org_id)
    page, headers = paginate(
        ctx.req,
        lics,
        key=lambda x: x.id,
        default=100,
        limit=1000,
        quirks=ctx.fake.faults.quirks,
    )
    return items([x.to_json(ctx.state.consumed(x.id)) for x in page], headers)


def _license_error(message: str, code: int, description: str) -> WebexError:
    # The LicenseError shape of webex-admin.json: errors carry an errorCode.
    return WebexError(
        400,
        message,
        description,
        extra={"errors": [{"errorCode": code, "description": description}]},
    )


def _assignee(ctx: Ctx, data: dict[str, Any]) -> Person:
    email, person_id = data.get("email"), data.get("personId")
    if email is None and person_id is None:
        # "At least one of the following body parameters is required: email, personId."
        raise missing("email or personId")
    for name, value in (("email", email), ("personId", person_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise bad_request(f"Invalid value for {name}: expected a non-empty string")
    person = None
    if person_id is not None:
        person = ctx.state.people.get(person_id)
        if person is None:
            raise not_found("Could not find a person with provided ID.")
        if email is not None and email.lower() not in person.emails:
            raise bad_request("email and personId name different people.")
    else:
        person = ctx.state.person_by_email(str(email))
        if person is None:
            # "Only existing users can be assigned a license."
            raise not_found("Could not find a person with provided email.")
    org_id = data.get("orgId")
    if org_id is not None and org_id != person.org_id:
        raise not_found(_NO_ORG)
    if not ctx.state.administers(ctx.me, person.org_id):
        raise not_found("Could not find a person with provided ID.")
    return person


def _requests(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise bad_request(f"Invalid value for {key}: expected a list of objects")
    for item in value:
        op = item.get("operation", "add")
        if op not in ("add", "remove"):
            raise bad_request(f"Invalid value for operation: {op!r} (add or remove)")
    return value


@router.route("PATCH", "/licenses/users")
def assign_licenses(ctx: Ctx) -> Any:
    """Assign Licenses to Users (admin only). Each ``licenses`` item adds (the default) or
    removes one license; ``consumedUnits`` follows. A license with no units left is skipped
    and the answer is 206 Partial Content with the licenses the person really holds, as the
    spec describes ("compare the returned licenses with the requested licenses")."""
    ctx.require_admin()
    data = ctx.body()
    person = _assignee(ctx, data)
    state = ctx.state
    lic_reqs = _requests(data, "licenses")
    site_reqs = _requests(data, "siteUrls")
    if not lic_reqs and not site_reqs:
        raise missing("licenses")
    for item in lic_reqs:
        lic_id = item.get("id")
        if not isinstance(lic_id, str) or not lic_id:
            raise missing("id")
        lic = state.licenses.get(lic_id)
        if lic is None or lic.org_id != person.org_id:
            # Another organization's license is not one this person can hold.
            raise _license_error(
                "License not recognized", 400000, f"License not recognized {lic_id}"
            )
    sites = state.meeting_sites(person.org_id)
    for item in site_reqs:
        site, account = item.get("siteUrl"), item.get("accountType")
        if not isinstance(site, str) or not site:
            raise missing("siteUrl")
        if account != "attendee":
            raise bad_request("Invalid value for accountType: only attendee is supported")
        if site not in sites:
            raise _license_error(
                "Invalid site URL", 400216, f"Request contains invalid attendee siteUrls: {site}"
            )
    # Validated: apply. Removals first, so a swap within one request frees the unit it needs.
    partial = False
    for item in sorted(lic_reqs, key=lambda x: x.get("operation", "add") != "remove"):
        lic_id = item["id"]
        if item.get("operation", "add") == "remove":
            if lic_id in person.licenses:
                person.licenses.remove(lic_id)
        elif lic_id not in person.licenses:
            if state.consumed(lic_id) >= state.licenses[lic_id].total_units:
                partial = True  # no unit left: not assigned
            else:
                person.licenses.append(lic_id)
    for item in site_reqs:
        site = item["siteUrl"]
        if item.get("operation", "add") == "remove":
            if site in person.attendee_sites:
                person.attendee_sites.remove(site)
        elif site not in person.attendee_sites:
            person.attendee_sites.append(site)
    person.last_modified = state.clock.now()
    body = {
        "orgId": person.org_id,
        "personId": person.id,
        "email": person.email,
        "licenses": list(person.licenses),
        "siteUrls": state.site_urls_of(person),
    }
    return ok(body, status=206 if partial else 200)


#: ``limit`` of ``GET /licenses/{id}?includeAssignedTo=user``: default and maximum (spec)
ASSIGNED_LIMIT = 300


@router.route("GET", "/licenses/{id}")
def get_license(ctx: Ctx) -> Any:
    """Get License Details. With ``includeAssignedTo=user``, ``users`` lists its holders
    (``INTERNAL``: of the license's organization, else ``EXTERNAL``), ``limit`` at a time
    (<= 300), further ones behind a ``next`` token given in the ``Link`` header; without it,
    ``next`` and ``limit`` are ignored ("applicable only if includeAssignedTo is populated")."""
    ctx.require_admin()
    lic = ctx.state.licenses.get(ctx.params["id"])
    if lic is None or not ctx.state.administers(ctx.me, lic.org_id):
        raise not_found("Could not find a license with provided ID.")
    body = lic.to_json(ctx.state.consumed(lic.id))
    assigned_to = ctx.req.arg("includeAssignedTo")
    if assigned_to is None or ctx.fake.faults.quirks.license_users_unsupported:
        return ok(body)
    if assigned_to != "user":
        raise bad_request(f"Invalid value for includeAssignedTo: {assigned_to!r} (user)")
    return _with_users(ctx, lic, body)


def _with_users(ctx: Ctx, lic: License, body: dict[str, Any]) -> Any:
    raw_limit = ctx.req.arg("limit")
    limit = ASSIGNED_LIMIT
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= ASSIGNED_LIMIT:
            raise bad_request(f"Invalid value for limit: 1 to {ASSIGNED_LIMIT}")
        limit = int(raw_limit)
    holders = sorted(
        (p for p in ctx.state.people.values() if lic.id in p.licenses), key=lambda p: p.id
    )
    start = 0
    token = ctx.req.arg("next")
    if token:
        decoded = decode_id(token)
        if decoded is None or decoded[0] != "LICENSE_USER_PAGING" or not decoded[1].isdigit():
            raise bad_request("Invalid value for next.")
        start = int(decoded[1])
    page = holders[start : start + limit]
    body["users"] = [
        {
            "id": p.id,
            "type": "INTERNAL" if p.org_id == lic.org_id else "EXTERNAL",
            "displayName": p.display_name,
            "email": p.email,
        }
        for p in page
    ]
    headers: dict[str, str] = {}
    if start + limit < len(holders):
        query = urlencode(
            {
                "includeAssignedTo": "user",
                "limit": limit,
                "next": make_id("LICENSE_USER_PAGING", str(start + limit)),
            }
        )
        headers["Link"] = f'<{ctx.req.base_url}{ctx.req.path}?{query}>; rel="next"'
    return ok(body, headers=headers)


@router.route("GET", "/roles")
def list_roles(ctx: Ctx) -> Any:
    ctx.require_admin()
    return items([r.to_json() for r in ctx.state.roles.values()])


@router.route("GET", "/roles/{id}")
def get_role(ctx: Ctx) -> Any:
    ctx.require_admin()
    role = ctx.state.roles.get(ctx.params["id"])
    if role is None:
        raise not_found("Could not find a role with provided ID.")
    return ok(role.to_json())
