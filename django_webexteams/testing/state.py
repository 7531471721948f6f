"""In-memory state of the fake Webex: the entities and their Webex JSON shapes.

Every mutation happens under ``State.lock`` (the app holds it for the duration of a route
handler), so the threaded server never sees a half-made change.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import Clock
from .ids import iso, make_id

_seq = itertools.count(1)

BOT_DOMAIN = "webex.bot"


def _next_seq() -> int:
    return next(_seq)


def new_token(org_uuid: str) -> str:
    """An opaque token shaped like Webex's (random part, ``_PF84_`` and the org uuid)."""
    return f"{secrets.token_urlsafe(48)}_PF84_{org_uuid}"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    # Webex omits absent fields rather than sending null.
    return {k: v for k, v in d.items() if v is not None}


@dataclass
class Organization:
    id: str
    display_name: str
    created: datetime
    uuid: str = ""
    # A customer organization managed by a partner organization (``FakeWebex.add_org``):
    # the partner's administrators see it and may delete it (DELETE /organizations/{orgId}).
    managed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name, "created": iso(self.created)}


@dataclass
class Role:
    id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass
class License:
    id: str
    name: str
    total_units: int
    subscription_id: str
    site_url: str | None = None
    site_type: str | None = None
    consumed_by_workspaces: int = 0
    org_id: str = ""  # the organization whose subscription holds it

    def to_json(self, consumed_by_users: int) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "name": self.name,
                "totalUnits": self.total_units,
                "consumedUnits": consumed_by_users + self.consumed_by_workspaces,
                "consumedByUsers": consumed_by_users,
                "consumedByWorkspaces": self.consumed_by_workspaces,
                "subscriptionId": self.subscription_id,
                "siteUrl": self.site_url,
                "siteType": self.site_type,
            }
        )


@dataclass(eq=False)
class Person:
    """A person or bot. Returned by ``FakeWebex.add_person``/``add_bot``: ``.id``, ``.token``,
    ``.email``, ``.display_name``."""

    id: str
    emails: list[str]
    display_name: str
    org_id: str
    created: datetime
    type: str = "person"  # person | bot | appuser
    first_name: str | None = None
    last_name: str | None = None
    nick_name: str | None = None
    roles: list[str] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    # Attendee roles on meeting sites given with PATCH /licenses/users (host roles come from
    # the meeting licenses themselves, see State.site_urls_of).
    attendee_sites: list[str] = field(default_factory=list)
    token: str = ""
    status: str = "active"
    invite_pending: bool = False
    login_enabled: bool = True
    is_admin: bool = False
    is_compliance_officer: bool = False
    last_modified: datetime | None = None
    department: str | None = None
    title: str | None = None
    avatar: str | None = None

    @property
    def email(self) -> str:
        return self.emails[0] if self.emails else ""

    @property
    def is_bot(self) -> bool:
        return self.type == "bot"

    def __repr__(self) -> str:  # never show the token
        return f"<Person {self.display_name!r} {self.email!r} {self.type}>"

    def to_json(self, *, for_admin: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "emails": list(self.emails),
            "phoneNumbers": [],
            "displayName": self.display_name,
            "nickName": self.nick_name,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "avatar": self.avatar,
            "orgId": self.org_id,
            "created": iso(self.created),
            "lastModified": iso(self.last_modified or self.created),
            "status": self.status if self.type != "bot" else "unknown",
            "type": self.type,
            "department": self.department,
            "title": self.title,
        }
        if self.type == "person":
            data["invitePending"] = "true" if self.invite_pending else "false"
            data["loginEnabled"] = "true" if self.login_enabled else "false"
        # Webex returns roles and licenses only to administrators.
        if for_admin:
            data["roles"] = list(self.roles)
            data["licenses"] = list(self.licenses)
        return _drop_none(data)


@dataclass(eq=False)
class Room:
    id: str
    uuid: str
    title: str
    type: str  # group | direct
    creator_id: str
    created: datetime
    last_activity: datetime
    team_id: str | None = None
    is_locked: bool = False
    is_announcement_only: bool = False
    is_read_only: bool = False
    is_public: bool = False
    description: str | None = None
    owner_id: str | None = None
    seq: int = field(default_factory=_next_seq)

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "title": self.title,
                "type": self.type,
                "isLocked": self.is_locked,
                "teamId": self.team_id,
                "lastActivity": iso(self.last_activity),
                "creatorId": self.creator_id,
                "created": iso(self.created),
                "ownerId": self.owner_id,
                "isAnnouncementOnly": self.is_announcement_only,
                "isReadOnly": self.is_read_only,
                "isPublic": self.is_public,
                "description": self.description,
            }
        )


@dataclass(eq=False)
class Membership:
    id: str
    room_id: str
    person_id: str
    created: datetime
    is_moderator: bool = False
    is_room_hidden: bool = False
    is_monitor: bool = False
    seq: int = field(default_factory=_next_seq)


@dataclass(eq=False)
class StoredFile:
    id: str
    filename: str
    content_type: str
    data: bytes
    room_id: str | None = None
    # Webex scans uploads: "scanning" answers 423 + Retry-After, "infected" 410,
    # "unscannable" 428 unless the download passes ?allow=unscannable.
    scan_state: str = "clean"
    scan_retry_after: int = 2


@dataclass(eq=False)
class Message:
    id: str
    room_id: str
    person_id: str
    created: datetime
    text: str | None = None
    markdown: str | None = None
    html: str | None = None
    files: list[str] = field(default_factory=list)  # StoredFile ids or external URLs
    attachments: list[dict[str, Any]] = field(default_factory=list)
    parent_id: str | None = None
    mentioned_people: list[str] = field(default_factory=list)
    mentioned_groups: list[str] = field(default_factory=list)
    updated: datetime | None = None
    edits: int = 0
    seq: int = field(default_factory=_next_seq)


@dataclass(eq=False)
class Team:
    id: str
    name: str
    creator_id: str
    created: datetime
    description: str | None = None
    general_room_id: str | None = None
    seq: int = field(default_factory=_next_seq)

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "name": self.name,
                "description": self.description,
                "creatorId": self.creator_id,
                "created": iso(self.created),
            }
        )


@dataclass(eq=False)
class TeamMembership:
    id: str
    team_id: str
    person_id: str
    created: datetime
    is_moderator: bool = False
    seq: int = field(default_factory=_next_seq)


@dataclass(eq=False)
class Webhook:
    id: str
    name: str
    target_url: str
    resource: str
    event: str
    created_by: str
    org_id: str
    app_id: str
    created: datetime
    filter: str | None = None
    secret: str | None = None
    status: str = "active"
    owned_by: str = "creator"
    failures: list[float] = field(default_factory=list)  # fake-clock times of failed deliveries
    seq: int = field(default_factory=_next_seq)

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "name": self.name,
                "targetUrl": self.target_url,
                "resource": self.resource,
                "event": self.event,
                "filter": self.filter,
                "secret": self.secret,
                "status": self.status,
                "created": iso(self.created),
                "ownedBy": self.owned_by,
                # Not in the spec's Webhook schema but sent by the service (see SOURCE.md).
                "orgId": self.org_id,
                "createdBy": self.created_by,
                "appId": self.app_id,
            }
        )


@dataclass(eq=False)
class AttachmentAction:
    id: str
    type: str
    message_id: str
    inputs: dict[str, Any]
    person_id: str
    room_id: str
    created: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "messageId": self.message_id,
            "inputs": self.inputs,
            "personId": self.person_id,
            "roomId": self.room_id,
            "created": iso(self.created),
        }


@dataclass(eq=False)
class RoomTab:
    id: str
    room_id: str
    room_type: str
    display_name: str
    content_url: str
    creator_id: str
    created: datetime
    seq: int = field(default_factory=_next_seq)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "roomId": self.room_id,
            "roomType": self.room_type,
            "displayName": self.display_name,
            "contentUrl": self.content_url,
            "creatorId": self.creator_id,
            "created": iso(self.created),
        }


@dataclass(eq=False)
class Event:
    """A compliance event (``GET /events``)."""

    id: str
    resource: str
    type: str
    actor_id: str
    org_id: str
    created: datetime
    data: dict[str, Any]
    app_id: str | None = None
    seq: int = field(default_factory=_next_seq)

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "resource": self.resource,
                "type": self.type,
                "appId": self.app_id,
                "actorId": self.actor_id,
                "orgId": self.org_id,
                "created": iso(self.created),
                "data": self.data,
            }
        )


@dataclass
class Token:
    value: str
    person_id: str
    expires_at: float | None  # fake-clock epoch seconds; None = never (bots, PATs)
    scopes: list[str] = field(default_factory=list)
    client_id: str | None = None
    revoked: bool = False


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Fake Integration"
    scopes: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Device:
    """A WDM device: what a websocket ("Mercury") client registers to get a ``webSocketUrl``
    (see ``routes/mercury.py`` and ``mercury.py``)."""

    uuid: str
    person_id: str
    name: str
    device_name: str
    device_type: str
    model: str
    localized_model: str
    system_name: str
    system_version: str
    created: datetime
    modified: datetime
    # Forgotten by Webex (``FakeWebex.ws_expire_device``): not listed, its handshake is 404.
    stale: bool = False
    seq: int = field(default_factory=_next_seq)


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    person_id: str
    scopes: list[str]
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used: bool = False


@dataclass
class RefreshToken:
    value: str
    client_id: str
    person_id: str
    scopes: list[str]
    expires_at: float
    revoked: bool = False


class State:
    """Everything the fake knows. Access under ``lock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.orgs: dict[str, Organization] = {}
        self.roles: dict[str, Role] = {}
        self.licenses: dict[str, License] = {}
        self.people: dict[str, Person] = {}
        self.tokens: dict[str, Token] = {}
        self.rooms: dict[str, Room] = {}
        self.memberships: dict[str, Membership] = {}
        self.messages: dict[str, Message] = {}
        self.files: dict[str, StoredFile] = {}
        self.teams: dict[str, Team] = {}
        self.team_memberships: dict[str, TeamMembership] = {}
        self.webhooks: dict[str, Webhook] = {}
        self.attachment_actions: dict[str, AttachmentAction] = {}
        self.room_tabs: dict[str, RoomTab] = {}
        self.events: dict[str, Event] = {}
        self.oauth_clients: dict[str, OAuthClient] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.devices: dict[str, Device] = {}  # by uuid
        self.device_registrations = 0  # successful POST /wdm/.../devices
        self.app_id = make_id("APPLICATION")
        self.org = self._seed_org()

    # --- seed -------------------------------------------------------------------------------
    def _seed_org(self) -> Organization:
        now = self.clock.now()
        org_uuid = str(uuid.uuid4())
        org = Organization(make_id("ORGANIZATION", org_uuid), "Fake Webex Org", now, org_uuid)
        self.orgs[org.id] = org
        for name in (
            "Full Administrator",
            "Read-only Administrator",
            "User Administrator",
            "Device Administrator",
            "Support Administrator",
            "Compliance Officer",
        ):
            role = Role(make_id("ROLE"), name)
            self.roles[role.id] = role
        self._seed_licenses(org, "fakeorg", "Sub-fake-0001")
        return org

    def _seed_licenses(self, org: Organization, site_slug: str, subscription: str) -> None:
        # Names as Control Hub shows them.
        site = f"{site_slug}.webex.com"
        for name, total, lic_site in (
            ("Messaging", 1000, None),
            ("Advanced Messaging", 100, None),
            ("Advanced Space Control", 100, None),
            ("Meeting - Webex Enterprise Edition", 50, site),
            ("Meeting - Webex Meetings Assistant", 50, site),
            ("Webex Calling - Professional", 25, None),
        ):
            lic = License(
                make_id("LICENSE"),
                name,
                total,
                subscription_id=subscription,
                site_url=lic_site,
                site_type="Control Hub managed site" if lic_site else None,
                org_id=org.id,
            )
            self.licenses[lic.id] = lic

    def add_organization(self, display_name: str) -> Organization:
        """Another organization, independent of the first one (no partner relation), with its
        own subscription: the same license names, its own license ids and meeting site."""
        org_uuid = str(uuid.uuid4())
        org = Organization(
            make_id("ORGANIZATION", org_uuid), display_name, self.clock.now(), org_uuid
        )
        self.orgs[org.id] = org
        n = len(self.orgs)
        self._seed_licenses(org, f"fakeorg{n}", f"Sub-fake-{n:04d}")
        return org

    def role_named(self, name: str) -> Role:
        return next(r for r in self.roles.values() if r.name == name)

    def licenses_of(self, org_id: str) -> list[License]:
        return [lic for lic in self.licenses.values() if lic.org_id == org_id]

    def license_named(self, name: str, org_id: str | None = None) -> License:
        org_id = org_id or self.org.id
        return next(
            lic for lic in self.licenses.values() if lic.name == name and lic.org_id == org_id
        )

    def administers(self, person: Person, org_id: str) -> bool:
        """Whether ``person`` is an administrator of ``org_id`` (its own organization, or a
        customer organization its organization manages)."""
        return person.is_admin and any(o.id == org_id for o in self.visible_orgs(person))

    def consumed(self, license_id: str) -> int:
        return sum(1 for p in self.people.values() if license_id in p.licenses)

    def site_urls_of(self, person: Person) -> list[dict[str, str]]:
        """``siteUrls`` of ``PATCH /licenses/users``: a meeting license on a site makes its
        holder a host there; other sites are attendee roles given explicitly (Webex: "For
        host account, remove attendee and assign the license on that site")."""
        hosts: list[str] = []
        for lic_id in person.licenses:
            lic = self.licenses.get(lic_id)
            if lic is not None and lic.site_url and lic.site_url not in hosts:
                hosts.append(lic.site_url)
        out = [{"siteUrl": site, "accountType": "host"} for site in hosts]
        out += [
            {"siteUrl": site, "accountType": "attendee"}
            for site in person.attendee_sites
            if site not in hosts
        ]
        return out

    def meeting_sites(self, org_id: str | None = None) -> set[str]:
        """The meeting sites of an organization's licenses (by default the first one's)."""
        return {lic.site_url for lic in self.licenses_of(org_id or self.org.id) if lic.site_url}

    def visible_orgs(self, person: Person) -> list[Organization]:
        """The person's own organization, then the customer organizations it manages."""
        own = self.orgs.get(person.org_id)
        managed = [o for o in self.orgs.values() if o.managed_by == person.org_id]
        return ([own] if own is not None else []) + managed

    def add_org(self, display_name: str, *, managed_by: str | None = None) -> Organization:
        """A customer organization (no licenses, no people) managed by ``managed_by``."""
        org_uuid = str(uuid.uuid4())
        org = Organization(
            make_id("ORGANIZATION", org_uuid),
            display_name,
            self.clock.now(),
            org_uuid,
            managed_by=managed_by or self.org.id,
        )
        self.orgs[org.id] = org
        return org

    # --- people and tokens ------------------------------------------------------------------
    def create_person(
        self,
        email: str,
        display_name: str | None = None,
        *,
        type: str = "person",
        admin: bool = False,
        first_name: str | None = None,
        last_name: str | None = None,
        licenses: list[str] | None = None,
        roles: list[str] | None = None,
        with_token: bool = True,
        token: str | None = None,
        org_id: str | None = None,
    ) -> Person:
        now = self.clock.now()
        org = self.orgs[org_id or self.org.id]
        if display_name is None:
            display_name = email.split("@")[0].replace(".", " ").title()
        if first_name is None and type == "person" and " " in display_name:
            first_name, _, last_name = display_name.partition(" ")
        if licenses is None:
            licenses = [] if type == "bot" else self._default_licenses(org.id)
        if roles is None:
            roles = [self.role_named("Full Administrator").id] if admin else []
        person = Person(
            id=make_id("PEOPLE"),
            emails=[email.lower()],
            display_name=display_name,
            org_id=org.id,
            created=now,
            type=type,
            first_name=first_name,
            last_name=last_name,
            licenses=list(licenses),
            roles=list(roles),
        )
        self.refresh_admin_flags(person)
        self.people[person.id] = person
        if with_token:
            person.token = token or new_token(org.uuid)
            # Personal and bot tokens carry every scope ("*"); see scopes.py.
            self.tokens[person.token] = Token(person.token, person.id, None, ["*"])
        return person

    def _default_licenses(self, org_id: str) -> list[str]:
        # A customer organization made with add_org has no subscription, hence no license.
        return [lic.id for lic in self.licenses_of(org_id) if lic.name == "Messaging"]

    def refresh_admin_flags(self, person: Person) -> None:
        names = {self.roles[r].name for r in person.roles if r in self.roles}
        person.is_admin = "Full Administrator" in names or "User Administrator" in names
        person.is_compliance_officer = "Compliance Officer" in names or person.is_admin

    def person_by_email(self, email: str) -> Person | None:
        email = email.lower()
        return next((p for p in self.people.values() if email in p.emails), None)

    def issue_token(
        self,
        person: Person,
        *,
        lifetime: float | None,
        scopes: list[str],
        client_id: str | None = None,
    ) -> Token:
        org = self.orgs.get(person.org_id, self.org)
        value = new_token(org.uuid)
        expires = None if lifetime is None else self.clock.time() + lifetime
        token = Token(value, person.id, expires, list(scopes), client_id)
        self.tokens[value] = token
        return token

    # --- rooms and memberships --------------------------------------------------------------
    def membership_of(self, person_id: str, room_id: str) -> Membership | None:
        room = self.rooms.get(room_id)
        if room is None:
            return None
        person = self.people.get(person_id)
        if person is None:
            return None
        mid = membership_id(person, room)
        return self.memberships.get(mid)

    def members(self, room_id: str) -> list[Membership]:
        return sorted(
            (m for m in self.memberships.values() if m.room_id == room_id), key=lambda m: m.seq
        )

    def add_member(self, room: Room, person: Person, *, moderator: bool = False) -> Membership:
        mid = membership_id(person, room)
        existing = self.memberships.get(mid)
        if existing is not None:
            return existing
        m = Membership(mid, room.id, person.id, self.clock.now(), is_moderator=moderator)
        self.memberships[mid] = m
        return m

    def create_room(
        self,
        creator: Person,
        title: str,
        *,
        type: str = "group",
        team_id: str | None = None,
        **extra: Any,
    ) -> Room:
        now = self.clock.now()
        ruuid = str(uuid.uuid4())
        room = Room(
            id=make_id("ROOM", ruuid),
            uuid=ruuid,
            title=title,
            type=type,
            creator_id=creator.id,
            created=now,
            last_activity=now,
            team_id=team_id,
            owner_id=creator.org_id if type == "group" else None,
            **extra,
        )
        self.rooms[room.id] = room
        return room

    def direct_room(self, a: Person, b: Person) -> Room | None:
        for room in self.rooms.values():
            if room.type != "direct":
                continue
            ids = {m.person_id for m in self.members(room.id)}
            if ids == {a.id, b.id}:
                return room
        return None

    def message_audience(self, room: Room, msg: Message) -> list[str]:
        """Who hears about ``msg`` (webhooks, websocket frames): the room's members, except
        bots in a group room that the message does not mention (as at Webex); its author
        always does."""
        owners = []
        for m in self.members(room.id):
            person = self.people.get(m.person_id)
            if person is None:
                continue
            if (
                person.is_bot
                and room.type == "group"
                and person.id not in msg.mentioned_people
                and person.id != msg.person_id
            ):
                continue
            owners.append(person.id)
        return owners

    def message_json(self, msg: Message, base_url: str) -> dict[str, Any]:
        room = self.rooms.get(msg.room_id)
        author = self.people.get(msg.person_id)
        return _drop_none(
            {
                "id": msg.id,
                "parentId": msg.parent_id,
                "roomId": msg.room_id,
                "roomType": room.type if room else "group",
                "text": msg.text,
                "markdown": msg.markdown,
                "html": msg.html,
                "files": [self.file_url(f, base_url) for f in msg.files] or None,
                "personId": msg.person_id,
                "personEmail": author.email if author else None,
                "mentionedPeople": list(msg.mentioned_people) or None,
                "mentionedGroups": list(msg.mentioned_groups) or None,
                "attachments": list(msg.attachments) or None,
                "created": iso(msg.created),
                "updated": iso(msg.updated),
            }
        )

    def file_url(self, ref: str, base_url: str) -> str:
        if ref in self.files:
            return f"{base_url}/contents/{ref}"
        return ref

    def membership_json(self, m: Membership) -> dict[str, Any]:
        person = self.people[m.person_id]
        room = self.rooms[m.room_id]
        return {
            "id": m.id,
            "roomId": m.room_id,
            "personId": m.person_id,
            "personEmail": person.email,
            "personDisplayName": person.display_name,
            "personOrgId": person.org_id,
            "isModerator": m.is_moderator,
            "isRoomHidden": m.is_room_hidden,
            "roomType": room.type,
            "isMonitor": m.is_monitor,
            "created": iso(m.created),
        }

    def team_membership_json(self, tm: TeamMembership) -> dict[str, Any]:
        person = self.people[tm.person_id]
        return {
            "id": tm.id,
            "teamId": tm.team_id,
            "personId": tm.person_id,
            "personEmail": person.email,
            "personDisplayName": person.display_name,
            "personOrgId": person.org_id,
            "isModerator": tm.is_moderator,
            "created": iso(tm.created),
        }

    # --- compliance events ------------------------------------------------------------------
    def record_event(self, resource: str, type: str, actor_id: str, data: dict[str, Any]) -> Event:
        actor = self.people.get(actor_id)
        event = Event(
            id=make_id("EVENT"),
            resource=resource,
            type=type,
            actor_id=actor_id,
            # The actor's organization: its compliance officers see the event.
            org_id=actor.org_id if actor is not None else self.org.id,
            created=self.clock.now(),
            data=data,
            app_id=None,
        )
        self.events[event.id] = event
        return event


def _uuid_of(webex_id: str) -> str:
    from .ids import decode_id

    decoded = decode_id(webex_id)
    return decoded[1] if decoded else webex_id


def membership_id(person: Person, room: Room) -> str:
    """Webex membership ids join the person uuid and the room uuid with ``:``."""
    return make_id("MEMBERSHIP", f"{_uuid_of(person.id)}:{room.uuid}")


def team_membership_id(person: Person, team: Team) -> str:
    return make_id("TEAM_MEMBERSHIP", f"{_uuid_of(person.id)}:{_uuid_of(team.id)}")
