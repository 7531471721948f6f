"""/events: compliance events, for compliance officers and admins only."""

from __future__ import annotations

from typing import Any

from ..errors import bad_request, forbidden, not_found
from ..ids import parse_iso
from ..pagination import paginate
from . import router
from .base import Ctx, items, ok


def _require_officer(ctx: Ctx) -> None:
    if not ctx.me.is_compliance_officer:
        raise forbidden("Compliance officer role required to list events.")


@router.route("GET", "/events")
def list_events(ctx: Ctx) -> Any:
    _require_officer(ctx)
    req = ctx.req
    # A compliance officer sees the events of their own organization only.
    events = sorted(
        (e for e in ctx.state.events.values() if e.org_id == ctx.me.org_id),
        key=lambda e: e.seq,
        reverse=True,
    )
    for name, attr in (("resource", "resource"), ("type", "type"), ("actorId", "actor_id")):
        value = req.arg(name)
        if value:
            events = [e for e in events if getattr(e, attr) == value]
    for name in ("from", "to"):
        value = req.arg(name)
        if value:
            when = parse_iso(value)
            if when is None:
                raise bad_request(f"Invalid value for {name}: {value!r}")
            events = [
                e for e in events if (e.created >= when if name == "from" else e.created < when)
            ]
    page, headers = paginate(
        req, events, key=lambda e: e.id, default=100, limit=1000, quirks=ctx.fake.faults.quirks
    )
    return items([e.to_json() for e in page], headers)


@router.route("GET", "/events/{id}")
def get_event(ctx: Ctx) -> Any:
    _require_officer(ctx)
    event = ctx.state.events.get(ctx.params["id"])
    if event is None or event.org_id != ctx.me.org_id:
        raise not_found("Could not find an event with provided ID.")
    return ok(event.to_json())
