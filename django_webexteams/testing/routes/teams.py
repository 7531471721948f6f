"""/teams: a team has a General room; team members see the team's rooms."""

from __future__ import annotations

from typing import Any

from ..errors import forbidden, not_found
from ..ids import make_id
from ..pagination import paginate
from ..state import Team, TeamMembership, team_membership_id
from . import router
from .base import Ctx, items, no_content, ok, str_field


def team_membership(ctx: Ctx, team_id: str, person_id: str) -> TeamMembership | None:
    return next(
        (
            tm
            for tm in ctx.state.team_memberships.values()
            if tm.team_id == team_id and tm.person_id == person_id
        ),
        None,
    )


def visible_team(ctx: Ctx, team_id: str) -> Team:
    team = ctx.state.teams.get(team_id)
    if team is None or team_membership(ctx, team.id, ctx.me.id) is None:
        raise not_found("Could not find a team with provided ID.")
    return team


def require_team_moderator(ctx: Ctx, team: Team) -> None:
    tm = team_membership(ctx, team.id, ctx.me.id)
    if tm is None or not tm.is_moderator:
        raise forbidden("Only team moderators may do this.")


@router.route("GET", "/teams")
def list_teams(ctx: Ctx) -> Any:
    mine = {tm.team_id for tm in ctx.state.team_memberships.values() if tm.person_id == ctx.me.id}
    teams = sorted((ctx.state.teams[t] for t in mine if t in ctx.state.teams), key=lambda t: t.seq)
    page, headers = paginate(
        ctx.req,
        teams,
        key=lambda t: t.id,
        default=100,
        limit=1000,
        quirks=ctx.fake.faults.quirks,
    )
    return items([t.to_json() for t in page], headers)


@router.route("POST", "/teams")
def create_team(ctx: Ctx) -> Any:
    data = ctx.body()
    name = str_field(data, "name", required=True)
    assert name is not None
    team = Team(
        make_id("TEAM"), name, ctx.me.id, ctx.state.clock.now(), str_field(data, "description")
    )
    ctx.state.teams[team.id] = team
    tm = TeamMembership(
        team_membership_id(ctx.me, team), team.id, ctx.me.id, team.created, is_moderator=True
    )
    ctx.state.team_memberships[tm.id] = tm
    # Every team has a General space named after it.
    general = ctx.state.create_room(ctx.me, name, team_id=team.id)
    team.general_room_id = general.id
    m = ctx.state.add_member(general, ctx.me, moderator=True)
    ctx.emit("rooms", "created", general.to_json(), room_id=general.id)
    ctx.emit("memberships", "created", ctx.state.membership_json(m), room_id=general.id)
    return ok(team.to_json())


@router.route("GET", "/teams/{id}")
def get_team(ctx: Ctx) -> Any:
    return ok(visible_team(ctx, ctx.params["id"]).to_json())


@router.route("PUT", "/teams/{id}")
def update_team(ctx: Ctx) -> Any:
    team = visible_team(ctx, ctx.params["id"])
    data = ctx.body()
    name = str_field(data, "name", required=True)
    assert name is not None
    require_team_moderator(ctx, team)
    team.name = name
    if "description" in data:
        team.description = str_field(data, "description")
    return ok(team.to_json())


@router.route("DELETE", "/teams/{id}")
def delete_team(ctx: Ctx) -> Any:
    team = visible_team(ctx, ctx.params["id"])
    require_team_moderator(ctx, team)
    for tid in [t.id for t in ctx.state.team_memberships.values() if t.team_id == team.id]:
        del ctx.state.team_memberships[tid]
    for room in [r for r in ctx.state.rooms.values() if r.team_id == team.id]:
        for m in ctx.state.members(room.id):
            del ctx.state.memberships[m.id]
        del ctx.state.rooms[room.id]
    del ctx.state.teams[team.id]
    return no_content()
