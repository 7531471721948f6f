"""/people: list, get, me; admin create, update, delete (with licenses and roles)."""

from __future__ import annotations

from typing import Any

from ..errors import bad_request, conflict, forbidden, missing, not_found
from ..pagination import paginate
from ..state import Person
from . import router
from .base import Ctx, bool_field, items, no_content, ok, str_field


def _visible_json(ctx: Ctx, person_id: str) -> dict[str, Any]:
    person = ctx.state.people[person_id]
    # Roles and licenses: for the person, and for administrators of the person's own (or a
    # managed) organization; another organization's administrator sees the directory entry.
    return person.to_json(
        for_admin=person.id == ctx.me.id or ctx.state.administers(ctx.me, person.org_id)
    )


def _administered(ctx: Ctx, person_id: str) -> Person:
    person = ctx.state.people.get(person_id)
    if person is None or not ctx.state.administers(ctx.me, person.org_id):
        # Another organization's person is not revealed to this administrator's writes.
        raise not_found("Could not find a person with provided ID.")
    return person


@router.route("GET", "/people/me")
def me(ctx: Ctx) -> Any:
    return ok(_visible_json(ctx, ctx.me.id))


@router.route("GET", "/people")
def list_people(ctx: Ctx) -> Any:
    req = ctx.req
    email = req.arg("email")
    display_name = req.arg("displayName")
    ids = req.arg_list("id")
    org_id = req.arg("orgId")
    roles = req.arg_list("roles")
    location_id = req.arg("locationId")
    # Non-admins must narrow the search; admins may list their whole organisation.
    if not (email or display_name or ids or ctx.me.is_admin):
        raise bad_request("Email, displayName, or id list should be specified.")
    if len(ids) > 85:
        raise bad_request("Too many ids: at most 85 may be given.")
    if org_id and org_id != ctx.me.org_id and not ctx.state.administers(ctx.me, org_id):
        # "Only admin users of another organization (such as partners) may use this
        # parameter."
        raise forbidden("Not authorized to list people of another organization.")
    people = sorted(ctx.state.people.values(), key=lambda p: p.display_name.lower())
    if not (email or display_name or ids):
        # An administrator's unfiltered list is one organization's (the directory search by
        # e-mail, name or id reaches further).
        people = [p for p in people if p.org_id == (org_id or ctx.me.org_id)]
    not_found_ids: list[str] = []
    if ids:
        people = [ctx.state.people[i] for i in ids if i in ctx.state.people]
        not_found_ids = [i for i in ids if i not in ctx.state.people]
    if email:
        people = [p for p in people if email.lower() in p.emails]
    if display_name:
        people = [p for p in people if p.display_name.lower().startswith(display_name.lower())]
    if org_id:
        people = [p for p in people if p.org_id == org_id]
    if roles:
        people = [p for p in people if set(roles) & set(p.roles)]
    if location_id:
        people = []
    page, headers = paginate(
        req, people, key=lambda p: p.id, default=100, limit=1000, quirks=ctx.fake.faults.quirks
    )
    body: dict[str, Any] = {"items": [_visible_json(ctx, p.id) for p in page]}
    if not_found_ids:
        body["notFoundIds"] = not_found_ids
    return ok(body, headers=headers)


@router.route("GET", "/people/{id}")
def get_person(ctx: Ctx) -> Any:
    person = ctx.state.people.get(ctx.params["id"])
    if person is None:
        raise not_found("Could not find a person with provided ID.")
    return ok(_visible_json(ctx, person.id))


def _check_licenses_roles(ctx: Ctx, data: dict[str, Any], current: list[str], org_id: str) -> None:
    for name in ("licenses", "roles"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request(f"Invalid value for {name}: expected a list of ids")
        if name == "licenses":
            # Only the person's organization's licenses can be given.
            ours = {lic.id for lic in ctx.state.licenses_of(org_id)}
            unknown = [v for v in value if v not in ours]
        else:
            unknown = [v for v in value if v not in ctx.state.roles]
        if unknown:
            raise bad_request(
                f"License not recognized {unknown[0]}"
                if name == "licenses"
                else f"Role not recognized {unknown[0]}"
            )
    for lic_id in data.get("licenses") or []:
        if lic_id in current:
            continue
        lic = ctx.state.licenses[lic_id]
        if ctx.state.consumed(lic_id) >= lic.total_units:
            raise bad_request(f"No units left for license {lic.name!r}.")


@router.route("POST", "/people")
def create_person(ctx: Ctx) -> Any:
    ctx.require_admin()
    data = ctx.body()
    emails = data.get("emails")
    if not emails:
        raise missing("emails")
    if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
        raise bad_request("Invalid value for emails: expected a list of e-mail addresses")
    if ctx.state.person_by_email(emails[0]) is not None:
        raise conflict("User already exists.")
    org_id = str_field(data, "orgId") or ctx.me.org_id
    if not ctx.state.administers(ctx.me, org_id):
        raise not_found("Could not find an organization with provided ID.")
    _check_licenses_roles(ctx, data, [], org_id)
    display_name = str_field(data, "displayName")
    first = str_field(data, "firstName")
    last = str_field(data, "lastName")
    if display_name is None:
        display_name = " ".join(x for x in (first, last) if x) or None
    person = ctx.state.create_person(
        emails[0],
        display_name,
        first_name=first,
        last_name=last,
        licenses=data.get("licenses"),
        roles=data.get("roles") or [],
        org_id=org_id,
    )
    person.nick_name = str_field(data, "nickName")
    person.department = str_field(data, "department")
    person.title = str_field(data, "title")
    person.avatar = str_field(data, "avatar")
    # A new user has not signed in yet.
    person.invite_pending = True
    if ctx.req.arg_bool("callingData"):
        pass
    return ok(person.to_json(for_admin=True))


@router.route("PUT", "/people/{id}")
def update_person(ctx: Ctx) -> Any:
    ctx.require_admin()
    person = _administered(ctx, ctx.params["id"])
    data = ctx.body()
    # Webex requires displayName on update (the PUT replaces the record).
    display_name = str_field(data, "displayName", required=True)
    _check_licenses_roles(ctx, data, person.licenses, person.org_id)
    emails = data.get("emails")
    if emails is not None:
        if not isinstance(emails, list) or not emails:
            raise bad_request("Invalid value for emails: expected a list of e-mail addresses")
        person.emails = [e.lower() for e in emails]
    assert display_name is not None
    person.display_name = display_name
    for attr, key in (
        ("first_name", "firstName"),
        ("last_name", "lastName"),
        ("nick_name", "nickName"),
        ("department", "department"),
        ("title", "title"),
        ("avatar", "avatar"),
    ):
        if key in data:
            setattr(person, attr, str_field(data, key))
    if "licenses" in data:
        person.licenses = list(data["licenses"] or [])
    if "roles" in data:
        person.roles = list(data["roles"] or [])
        ctx.state.refresh_admin_flags(person)
    login = bool_field(data, "loginEnabled")
    if login is not None:
        person.login_enabled = login
    person.last_modified = ctx.state.clock.now()
    return ok(person.to_json(for_admin=True))


@router.route("DELETE", "/people/{id}")
def delete_person(ctx: Ctx) -> Any:
    ctx.require_admin()
    person = _administered(ctx, ctx.params["id"])
    del ctx.state.people[person.id]
    for value in [t for t, tok in ctx.state.tokens.items() if tok.person_id == person.id]:
        del ctx.state.tokens[value]
    for mid in [m.id for m in ctx.state.memberships.values() if m.person_id == person.id]:
        del ctx.state.memberships[mid]
    for tid in [t.id for t in ctx.state.team_memberships.values() if t.person_id == person.id]:
        del ctx.state.team_memberships[tid]
    return no_content()


__all__ = ["items"]
