"""/team/memberships."""

from __future__ import annotations

from typing import Any

from ..errors import conflict, missing, not_found
from ..pagination import paginate
from ..state import TeamMembership, team_membership_id
from . import router
from .base import Ctx, bool_field, items, no_content, ok, str_field
from .memberships import invite
from .teams import require_team_moderator, team_membership, visible_team


def _visible(ctx: Ctx, tm_id: str) -> TeamMembership:
    tm = ctx.state.team_memberships.get(tm_id)
    if tm is None or team_membership(ctx, tm.team_id, ctx.me.id) is None:
        raise not_found("Could not find a team membership with provided ID.")
    return tm


@router.route("GET", "/team/memberships")
def list_team_memberships(ctx: Ctx) -> Any:
    team_id = ctx.req.arg("teamId")
    if not team_id:
        raise missing("teamId")
    team = visible_team(ctx, team_id)
    tms = sorted(
        (t for t in ctx.state.team_memberships.values() if t.team_id == team.id),
        key=lambda t: t.seq,
    )
    page, headers = paginate(
        ctx.req,
        tms,
        key=lambda t: t.id,
        default=100,
        limit=1000,
        quirks=ctx.fake.faults.quirks,
    )
    return items([ctx.state.team_membership_json(t) for t in page], headers)


@router.route("POST", "/team/memberships")
def create_team_membership(ctx: Ctx) -> Any:
    data = ctx.body()
    team_id = str_field(data, "teamId", required=True)
    assert team_id is not None
    team = visible_team(ctx, team_id)
    require_team_moderator(ctx, team)
    person_id = str_field(data, "personId")
    person_email = str_field(data, "personEmail")
    if not person_id and not person_email:
        raise missing("personId or personEmail")
    person = ctx.person_arg(person_id, None) if person_id else invite(ctx, person_email or "")
    assert person is not None
    if team_membership(ctx, team.id, person.id) is not None:
        raise conflict("Person is already a member of the team.")
    tm = TeamMembership(
        team_membership_id(person, team),
        team.id,
        person.id,
        ctx.state.clock.now(),
        is_moderator=bool_field(data, "isModerator", False) or False,
    )
    ctx.state.team_memberships[tm.id] = tm
    general = ctx.state.rooms.get(team.general_room_id or "")
    if general is not None and ctx.state.membership_of(person.id, general.id) is None:
        m = ctx.state.add_member(general, person, moderator=tm.is_moderator)
        ctx.emit("memberships", "created", ctx.state.membership_json(m), room_id=general.id)
    return ok(ctx.state.team_membership_json(tm))


@router.route("GET", "/team/memberships/{id}")
def get_team_membership(ctx: Ctx) -> Any:
    return ok(ctx.state.team_membership_json(_visible(ctx, ctx.params["id"])))


@router.route("PUT", "/team/memberships/{id}")
def update_team_membership(ctx: Ctx) -> Any:
    tm = _visible(ctx, ctx.params["id"])
    data = ctx.body()
    is_moderator = bool_field(data, "isModerator")
    if is_moderator is None:
        raise missing("isModerator")
    require_team_moderator(ctx, ctx.state.teams[tm.team_id])
    tm.is_moderator = is_moderator
    return ok(ctx.state.team_membership_json(tm))


@router.route("DELETE", "/team/memberships/{id}")
def delete_team_membership(ctx: Ctx) -> Any:
    tm = _visible(ctx, ctx.params["id"])
    if tm.person_id != ctx.me.id:
        require_team_moderator(ctx, ctx.state.teams[tm.team_id])
    del ctx.state.team_memberships[tm.id]
    return no_content()
