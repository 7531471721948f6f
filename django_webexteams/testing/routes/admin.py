"""Admin APIs: /organizations, /licenses, /roles (administrators only)."""

from __future__ import annotations

from typing import Any

from ..errors import not_found
from ..pagination import paginate
from . import router
from .base import Ctx, items, ok


@router.route("GET", "/organizations")
def list_orgs(ctx: Ctx) -> Any:
    ctx.require_admin()
    return items([ctx.state.orgs[ctx.me.org_id].to_json()])


@router.route("GET", "/organizations/{id}")
def get_org(ctx: Ctx) -> Any:
    ctx.require_admin()
    org = ctx.state.orgs.get(ctx.params["id"])
    if org is None or org.id != ctx.me.org_id:
        raise not_found("Could not find an organization with provided ID.")
    return ok(org.to_json())


@router.route("GET", "/licenses")
def list_licenses(ctx: Ctx) -> Any:
    ctx.require_admin()
    org_id = ctx.req.arg("orgId")
    if org_id and org_id != ctx.me.org_id:
        return items([])
    lics = list(ctx.state.licenses.values())
    page, headers = paginate(
        ctx.req,
        lics,
        key=lambda x: x.id,
        default=100,
        limit=1000,
        quirks=ctx.fake.faults.quirks,
    )
    return items([x.to_json(ctx.state.consumed(x.id)) for x in page], headers)


@router.route("GET", "/licenses/{id}")
def get_license(ctx: Ctx) -> Any:
    ctx.require_admin()
    lic = ctx.state.licenses.get(ctx.params["id"])
    if lic is None:
        raise not_found("Could not find a license with provided ID.")
    return ok(lic.to_json(ctx.state.consumed(lic.id)))


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
