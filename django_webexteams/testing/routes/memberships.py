"""/memberships: who is in which room."""

from __future__ import annotations

from typing import Any

from ..errors import bad_request, conflict, forbidden, missing, not_found
from ..pagination import paginate
from ..state import Membership, Person
from . import router
from .base import Ctx, bool_field, items, no_content, ok, str_field


def invite(ctx: Ctx, email: str) -> Person:
    """Webex invites an unknown e-mail address: a pending person appears."""
    person = ctx.state.person_by_email(email)
    if person is None:
        person = ctx.state.create_person(email, with_token=False)
        person.invite_pending = True
    return person


@router.route("GET", "/memberships")
def list_memberships(ctx: Ctx) -> Any:
    req = ctx.req
    room_id = req.arg("roomId")
    person_id = req.arg("personId")
    person_email = req.arg("personEmail")
    if room_id:
        ctx.require_room(room_id)
        result = ctx.state.members(room_id)
        if person_id:
            result = [m for m in result if m.person_id == person_id]
        if person_email:
            p = ctx.state.person_by_email(person_email)
            result = [m for m in result if p is not None and m.person_id == p.id]
    else:
        if (person_id and person_id != ctx.me.id) or (
            person_email and person_email.lower() not in ctx.me.emails
        ):
            raise bad_request("personId or personEmail may only be used together with roomId.")
        result = sorted(
            (m for m in ctx.state.memberships.values() if m.person_id == ctx.me.id),
            key=lambda m: m.seq,
        )
    page, headers = paginate(
        req, result, key=lambda m: m.id, default=100, limit=1000, quirks=ctx.fake.faults.quirks
    )
    return items([ctx.state.membership_json(m) for m in page], headers)


@router.route("POST", "/memberships")
def create_membership(ctx: Ctx) -> Any:
    data = ctx.body()
    room_id = str_field(data, "roomId", required=True)
    room = ctx.require_room(room_id)
    person_id = str_field(data, "personId")
    person_email = str_field(data, "personEmail")
    if not person_id and not person_email:
        raise missing("personId or personEmail")
    if room.type == "direct":
        raise bad_request("Cannot add people to a direct room.")
    mine = ctx.state.membership_of(ctx.me.id, room.id)
    if room.is_locked and mine is not None and not mine.is_moderator:
        raise forbidden("Only moderators may add people to a moderated space.")
    if person_id:
        person = ctx.state.people.get(person_id)
        if person is None:
            raise not_found("Could not find a person with provided ID.")
    else:
        assert person_email is not None
        person = invite(ctx, person_email)
    if ctx.state.membership_of(person.id, room.id) is not None:
        raise conflict("Person is already in the room.")
    membership = ctx.state.add_member(
        room, person, moderator=bool_field(data, "isModerator", False) or False
    )
    ctx.emit("memberships", "created", ctx.state.membership_json(membership), room_id=room.id)
    return ok(ctx.state.membership_json(membership))


def _visible(ctx: Ctx, membership_id: str) -> Membership:
    m = ctx.state.memberships.get(membership_id)
    if m is None or ctx.state.membership_of(ctx.me.id, m.room_id) is None:
        raise not_found("Could not find a membership with provided ID.")
    return m


@router.route("GET", "/memberships/{id}")
def get_membership(ctx: Ctx) -> Any:
    return ok(ctx.state.membership_json(_visible(ctx, ctx.params["id"])))


@router.route("PUT", "/memberships/{id}")
def update_membership(ctx: Ctx) -> Any:
    m = _visible(ctx, ctx.params["id"])
    data = ctx.body()
    is_moderator = bool_field(data, "isModerator")
    is_hidden = bool_field(data, "isRoomHidden")
    if is_moderator is None and is_hidden is None:
        raise missing("isModerator")
    if is_moderator is not None and is_moderator != m.is_moderator:
        mine = ctx.state.membership_of(ctx.me.id, m.room_id)
        room = ctx.state.rooms[m.room_id]
        if room.is_locked and mine is not None and not mine.is_moderator:
            raise forbidden("Only moderators may change moderators.")
        m.is_moderator = is_moderator
    if is_hidden is not None:
        if m.person_id != ctx.me.id:
            raise forbidden("Only the member may hide a room for themselves.")
        m.is_room_hidden = is_hidden
    ctx.emit("memberships", "updated", ctx.state.membership_json(m), room_id=m.room_id)
    return ok(ctx.state.membership_json(m))


@router.route("DELETE", "/memberships/{id}")
def delete_membership(ctx: Ctx) -> Any:
    m = _visible(ctx, ctx.params["id"])
    room = ctx.state.rooms[m.room_id]
    if room.type == "direct":
        raise bad_request("Cannot remove people from a direct room.")
    mine = ctx.state.membership_of(ctx.me.id, m.room_id)
    if room.is_locked and m.person_id != ctx.me.id and mine is not None and not mine.is_moderator:
        raise forbidden("Only moderators may remove people from a moderated space.")
    snapshot = ctx.state.membership_json(m)
    owners = [x.person_id for x in ctx.state.members(room.id)]
    del ctx.state.memberships[m.id]
    ctx.emit("memberships", "deleted", snapshot, owner_ids=owners)
    return no_content()
