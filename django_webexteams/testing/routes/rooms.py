"""/rooms: list, create, get, update, delete. A person sees only rooms they belong to."""

from __future__ import annotations

from typing import Any

from ..errors import bad_request, forbidden, not_found
from ..pagination import paginate
from . import router
from .base import Ctx, bool_field, items, no_content, ok, str_field


def team_member(ctx: Ctx, team_id: str) -> bool:
    return any(
        tm.team_id == team_id and tm.person_id == ctx.me.id
        for tm in ctx.state.team_memberships.values()
    )


@router.route("GET", "/rooms")
def list_rooms(ctx: Ctx) -> Any:
    req = ctx.req
    mine = {m.room_id for m in ctx.state.memberships.values() if m.person_id == ctx.me.id}
    rooms = [ctx.state.rooms[r] for r in mine if r in ctx.state.rooms]
    if req.arg_bool("orgPublicSpaces"):
        # "Shows the org's public spaces joined and unjoined": the caller's organization's.
        rooms = [
            r
            for r in ctx.state.rooms.values()
            if r.is_public and r.type == "group" and r.owner_id == ctx.me.org_id
        ]
    team_id = req.arg("teamId")
    if team_id:
        rooms = [r for r in rooms if r.team_id == team_id]
    room_type = req.arg("type")
    if room_type:
        if room_type not in ("direct", "group"):
            raise bad_request("Invalid value for type: expected direct or group")
        rooms = [r for r in rooms if r.type == room_type]
    sort_by = req.arg("sortBy") or "id"
    if sort_by == "lastactivity":
        rooms.sort(key=lambda r: (r.last_activity, r.seq), reverse=True)
    elif sort_by == "created":
        rooms.sort(key=lambda r: (r.created, r.seq), reverse=True)
    elif sort_by == "id":
        rooms.sort(key=lambda r: r.seq)
    else:
        raise bad_request("Invalid value for sortBy: expected id, lastactivity or created")
    page, headers = paginate(
        req, rooms, key=lambda r: r.id, default=100, limit=1000, quirks=ctx.fake.faults.quirks
    )
    return items([r.to_json() for r in page], headers)


@router.route("POST", "/rooms")
def create_room(ctx: Ctx) -> Any:
    data = ctx.body()
    title = str_field(data, "title", required=True)
    assert title is not None
    team_id = str_field(data, "teamId")
    if team_id is not None and (team_id not in ctx.state.teams or not team_member(ctx, team_id)):
        raise not_found("Could not find a team with provided ID.")
    room = ctx.state.create_room(
        ctx.me,
        title,
        team_id=team_id,
        is_locked=bool_field(data, "isLocked", False) or False,
        is_announcement_only=bool_field(data, "isAnnouncementOnly", False) or False,
        is_public=bool_field(data, "isPublic", False) or False,
        description=str_field(data, "description"),
    )
    membership = ctx.state.add_member(room, ctx.me, moderator=room.is_locked)
    ctx.emit("rooms", "created", room.to_json(), room_id=room.id)
    ctx.emit(
        "memberships",
        "created",
        ctx.state.membership_json(membership),
        room_id=room.id,
    )
    return ok(room.to_json())


@router.route("GET", "/rooms/{id}")
def get_room(ctx: Ctx) -> Any:
    room = ctx.state.rooms.get(ctx.params["id"])
    # Team members may see a team's rooms without being members of them.
    if room is not None and room.team_id and team_member(ctx, room.team_id):
        return ok(room.to_json())
    room = ctx.require_room(ctx.params["id"])
    return ok(room.to_json())


@router.route("PUT", "/rooms/{id}")
def update_room(ctx: Ctx) -> Any:
    room = ctx.require_room(ctx.params["id"])
    data = ctx.body()
    title = str_field(data, "title", required=True)
    assert title is not None
    membership = ctx.state.membership_of(ctx.me.id, room.id)
    if room.is_locked and membership is not None and not membership.is_moderator:
        raise forbidden("Only moderators may update a moderated space.")
    if room.type == "direct":
        raise bad_request("Direct rooms cannot be updated.")
    room.title = title
    if "teamId" in data:
        team_id = str_field(data, "teamId")
        if team_id and team_id not in ctx.state.teams:
            raise not_found("Could not find a team with provided ID.")
        room.team_id = team_id
    for attr, key in (
        ("is_locked", "isLocked"),
        ("is_announcement_only", "isAnnouncementOnly"),
        ("is_read_only", "isReadOnly"),
        ("is_public", "isPublic"),
    ):
        value = bool_field(data, key)
        if value is not None:
            setattr(room, attr, value)
    if "description" in data:
        room.description = str_field(data, "description")
    ctx.emit("rooms", "updated", room.to_json(), room_id=room.id)
    return ok(room.to_json())


@router.route("DELETE", "/rooms/{id}")
def delete_room(ctx: Ctx) -> Any:
    room = ctx.require_room(ctx.params["id"])
    membership = ctx.state.membership_of(ctx.me.id, room.id)
    assert membership is not None
    if room.is_locked and not membership.is_moderator:
        # Webex: a non-moderator "deleting" a moderated space just leaves it.
        del ctx.state.memberships[membership.id]
        ctx.emit(
            "memberships",
            "deleted",
            ctx.state.membership_json(membership),
            room_id=room.id,
            extra_owners=[ctx.me.id],
        )
        return no_content()
    owners = [m.person_id for m in ctx.state.members(room.id)]
    snapshot = room.to_json()
    for m in ctx.state.members(room.id):
        del ctx.state.memberships[m.id]
    for mid in [m.id for m in ctx.state.messages.values() if m.room_id == room.id]:
        del ctx.state.messages[mid]
    for tid in [t.id for t in ctx.state.room_tabs.values() if t.room_id == room.id]:
        del ctx.state.room_tabs[tid]
    del ctx.state.rooms[room.id]
    ctx.emit("rooms", "deleted", snapshot, owner_ids=owners)
    return no_content()


__all__ = ["team_member"]
