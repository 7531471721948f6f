"""Routing and the per-request context shared by the route modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ADMIN_REQUIRED, WebexError, bad_request, forbidden, missing, not_found
from ..http import Request, Response
from ..state import Person, Room, State, Token

if TYPE_CHECKING:
    from ..fake import FakeWebex

Handler = Callable[["Ctx"], Response]


@dataclass
class Route:
    method: str
    pattern: str  # e.g. "/messages/{id}"
    regex: re.Pattern[str]
    handler: Handler
    auth: bool = True  # needs a bearer token
    spec_path: str = ""  # the OpenAPI path it implements ("" for non-API pages)
    # Served at the server's root rather than under /v1: the websocket path's discovery,
    # device and conversation services (routes/mercury.py), which are not the public API.
    root: bool = False


class Router:
    """Ordered (method, path pattern) table. ``/people/me`` is declared before
    ``/people/{id}`` so the literal wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        pattern: str,
        *,
        auth: bool = True,
        spec_path: str | None = None,
        root: bool = False,
    ) -> Callable[[Handler], Handler]:
        regex = re.compile(
            "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/")) + "/?$"
        )

        def decorator(fn: Handler) -> Handler:
            self.routes.append(
                Route(
                    method.upper(),
                    pattern,
                    regex,
                    fn,
                    auth,
                    pattern if spec_path is None else spec_path,
                    root,
                )
            )
            return fn

        return decorator

    def match(
        self, method: str, path: str, *, root: bool = False
    ) -> tuple[Route | None, dict[str, str], bool]:
        """Return (route, path params, path_exists_with_other_method). ``root``: match the
        routes served outside /v1 (``path`` is then the whole path) instead of the API's."""
        path_found = False
        for route in self.routes:
            if route.root != root:
                continue
            m = route.regex.match(path)
            if not m:
                continue
            path_found = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, m.groupdict(), True
        return None, {}, path_found


@dataclass
class PendingEvent:
    """A change made by a handler: becomes a compliance event and webhook deliveries."""

    resource: str
    event: str
    actor_id: str
    data: dict[str, Any]  # the full object (compliance events get it all)
    hook_data: dict[str, Any]  # what webhook envelopes carry
    room_id: str | None = None
    mentioned: list[str] = field(default_factory=list)
    owner_ids: list[str] | None = None  # people whose webhooks may fire (None: room members)


@dataclass
class Ctx:
    """What a handler gets: the fake, the request, the caller and path parameters."""

    fake: FakeWebex
    req: Request
    params: dict[str, str]
    caller: Person | None = None
    token: Token | None = None
    pending: list[PendingEvent] = field(default_factory=list)

    @property
    def state(self) -> State:
        return self.fake.state

    @property
    def me(self) -> Person:
        assert self.caller is not None
        return self.caller

    def emit(
        self,
        resource: str,
        event: str,
        data: dict[str, Any],
        *,
        hook_data: dict[str, Any] | None = None,
        room_id: str | None = None,
        mentioned: list[str] | None = None,
        extra_owners: list[str] | None = None,
        owner_ids: list[str] | None = None,
    ) -> None:
        """Record a change: a compliance event now, webhook deliveries after the handler.
        Whose webhooks may fire is decided now (room members before a delete removes them)."""
        if owner_ids is None:
            owner_ids = [m.person_id for m in self.state.members(room_id)] if room_id else []
        owners = list(dict.fromkeys([*owner_ids, *(extra_owners or [])]))
        self.state.record_event(resource, event, self.me.id, data)
        self.pending.append(
            PendingEvent(
                resource=resource,
                event=event,
                actor_id=self.me.id,
                data=data,
                hook_data=hook_data if hook_data is not None else data,
                room_id=room_id,
                mentioned=list(mentioned or []),
                owner_ids=owners,
            )
        )

    def body(self) -> dict[str, Any]:
        return self.req.json()

    # --- validation helpers ------------------------------------------------------------------
    def require_admin(self) -> None:
        if not self.me.is_admin:
            raise forbidden(ADMIN_REQUIRED)

    def require_room(self, room_id: str | None, *, field_name: str = "roomId") -> Room:
        """The room, when the caller is a member. Non-members get 404 as if the room did not
        exist (Webex does not reveal rooms you are not in)."""
        if not room_id:
            raise missing(field_name)
        room = self.state.rooms.get(room_id)
        if room is None or self.state.membership_of(self.me.id, room_id) is None:
            raise not_found("Could not find a room with provided ID.")
        return room

    def person_arg(self, person_id: str | None, person_email: str | None) -> Person | None:
        if person_id:
            person = self.state.people.get(person_id)
            if person is None:
                raise not_found("Could not find a person with provided ID.")
            return person
        if person_email:
            return self.state.person_by_email(person_email)
        return None


def ok(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, body=body, headers=headers or {})


def no_content() -> Response:
    return Response(status=204, body=None)


def items(values: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Response:
    return Response(status=200, body={"items": values}, headers=headers or {})


def str_field(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string field from a JSON body: 400 when the type is wrong or it is required and
    missing/empty."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise bad_request(f"Invalid value for {name}: expected a string")
    return value


def bool_field(data: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise bad_request(f"Invalid value for {name}: expected a boolean")
    return value


__all__ = [
    "Ctx",
    "PendingEvent",
    "Route",
    "Router",
    "WebexError",
    "bool_field",
    "items",
    "no_content",
    "ok",
    "str_field",
]
