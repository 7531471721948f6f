"""/room/tabs: tabs pinned in a room."""

from __future__ import annotations

from typing import Any

from ..errors import missing, not_found
from ..ids import make_id
from ..state import RoomTab
from . import router
from .base import Ctx, items, no_content, ok, str_field


def _visible(ctx: Ctx, tab_id: str) -> RoomTab:
    tab = ctx.state.room_tabs.get(tab_id)
    if tab is None or ctx.state.membership_of(ctx.me.id, tab.room_id) is None:
        raise not_found("Could not find a room tab with provided ID.")
    return tab


@router.route("GET", "/room/tabs")
def list_tabs(ctx: Ctx) -> Any:
    room_id = ctx.req.arg("roomId")
    if not room_id:
        raise missing("roomId")
    room = ctx.require_room(room_id)
    tabs = sorted(
        (t for t in ctx.state.room_tabs.values() if t.room_id == room.id), key=lambda t: t.seq
    )
    return items([t.to_json() for t in tabs])


@router.route("POST", "/room/tabs")
def create_tab(ctx: Ctx) -> Any:
    data = ctx.body()
    room_id = str_field(data, "roomId", required=True)
    content_url = str_field(data, "contentUrl", required=True)
    display_name = str_field(data, "displayName", required=True)
    room = ctx.require_room(room_id)
    assert content_url and display_name
    tab = RoomTab(
        make_id("ROOM_TAB"),
        room.id,
        room.type,
        display_name,
        content_url,
        ctx.me.id,
        ctx.state.clock.now(),
    )
    ctx.state.room_tabs[tab.id] = tab
    ctx.state.record_event("tabs", "created", ctx.me.id, tab.to_json())
    return ok(tab.to_json())


@router.route("GET", "/room/tabs/{id}")
def get_tab(ctx: Ctx) -> Any:
    return ok(_visible(ctx, ctx.params["id"]).to_json())


@router.route("PUT", "/room/tabs/{id}")
def update_tab(ctx: Ctx) -> Any:
    tab = _visible(ctx, ctx.params["id"])
    data = ctx.body()
    room_id = str_field(data, "roomId", required=True)
    content_url = str_field(data, "contentUrl", required=True)
    display_name = str_field(data, "displayName", required=True)
    if room_id != tab.room_id:
        raise not_found("Could not find a room tab with provided ID.")
    assert content_url and display_name
    tab.content_url, tab.display_name = content_url, display_name
    ctx.state.record_event("tabs", "updated", ctx.me.id, tab.to_json())
    return ok(tab.to_json())


@router.route("DELETE", "/room/tabs/{id}")
def delete_tab(ctx: Ctx) -> Any:
    tab = _visible(ctx, ctx.params["id"])
    del ctx.state.room_tabs[tab.id]
    ctx.state.record_event("tabs", "deleted", ctx.me.id, tab.to_json())
    return no_content()
