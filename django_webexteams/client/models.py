"""Typed results. Each class declares the fields of its OpenAPI schema in snake_case;
``.raw`` keeps the JSON dict exactly as Webex sent it (unknown and future fields included),
``.tracking_id`` the ``TrackingID`` of the response it came from, and ``.errors`` the
partial errors Webex attaches to list items (e.g. ``{"title": {"code": "kms_failure",
"reason": "..."}}`` when a space title could not be decrypted).

``id`` is typed ``str`` (every Webex object has one); other fields are optional because
Webex omits fields freely (and drops them on partial errors).

Timestamps become timezone-aware :class:`datetime.datetime` objects; a value that is not a
valid timestamp is kept as None in the attribute (and untouched in ``.raw``).

Objects the client returns read each field from ``.raw`` on first access (a list of
thousands of spaces, of which an application reads two fields each, then costs little
more than the JSON itself), so treat ``.raw`` as read-only. ``from_json`` reads every field
at once from a copy.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

__all__ = [
    "AttachmentAction",
    "Event",
    "License",
    "LicenseAssignment",
    "Membership",
    "Message",
    "Organization",
    "Person",
    "Role",
    "Room",
    "RoomTab",
    "Team",
    "TeamMembership",
    "WebexObject",
    "Webhook",
    "parse_datetime",
]

M = TypeVar("M", bound="WebexObject")

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?$"
)


#: The shape Webex always sends (``2015-10-18T14:26:16.203Z``): parsed by
#: :meth:`datetime.fromisoformat` directly (it accepts ``Z`` from Python 3.11 on), about ten
#: times cheaper than the general path below. Lists parse two timestamps per item.
_WEBEX_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
_fromisoformat = datetime.fromisoformat


def parse_datetime(value: Any) -> datetime | None:
    """Parse a Webex ISO-8601 timestamp (``2015-10-18T14:26:16.203Z``) into an aware datetime.
    A timestamp without offset is taken as UTC (Webex always means UTC). Returns None for
    anything else."""
    if type(value) is str and _WEBEX_ISO_RE.fullmatch(value):
        try:
            return _fromisoformat(value)
        except ValueError:  # e.g. month 13: the general path below says None too
            pass
    return _parse_datetime_general(value)


def _parse_datetime_general(value: Any) -> datetime | None:
    """The slow path of :func:`parse_datetime`: other precisions, offsets, ``z``, a space
    instead of ``T``, surrounding whitespace, datetime objects."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    m = _ISO_RE.match(value.strip())
    if not m:
        return None
    text = value.strip().replace("z", "Z")
    frac = m.group(7)
    if frac and len(frac) != 6:
        # fromisoformat wants 3 or 6 digits before 3.11's relaxed parser; normalise to 6.
        text = text.replace("." + frac, "." + (frac + "000000")[:6], 1)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


#: attribute -> (JSON key, is a timestamp, default), per class, computed once (lists of a
#: thousand items build a thousand objects)
_Specs = dict[str, tuple[str, bool, Any]]
_SPECS: dict[type, _Specs] = {}


def _field_specs(cls: type[WebexObject]) -> _Specs:
    specs = _SPECS.get(cls)
    if specs is None:
        specs = _SPECS[cls] = _compute_specs(cls)
    return specs


class _LazyField:
    """Reads one declared field from ``.raw`` on first access and caches it in the
    instance dict (where later reads find it without calling this)."""

    __slots__ = ("default", "is_datetime", "key", "name")

    def __init__(self, name: str, key: str, is_datetime: bool, default: Any) -> None:
        self.name = name
        self.key = key
        self.is_datetime = is_datetime
        self.default = default

    def __get__(self, obj: WebexObject | None, owner: type | None = None) -> Any:
        if obj is None:
            return self.default  # ``Room.title``: the default, as before
        values = obj.__dict__
        raw = values.get("raw")
        if raw is None:
            raise AttributeError(self.name)
        value = raw.get(self.key)
        if value is not None and self.is_datetime:
            value = parse_datetime(value)
        if value is None:
            value = self.default  # ``id`` is typed ``str``: "" if Webex ever omits it
        values[self.name] = value
        return value


def _compute_specs(cls: type[WebexObject]) -> _Specs:
    specs: _Specs = {}
    for f in dataclasses.fields(cls):
        if f.name in cls._base_fields:
            continue
        key = cls._keys.get(f.name, _camel(f.name))
        default = None if f.default is dataclasses.MISSING else f.default
        specs[f.name] = (key, "datetime" in str(f.type), default)
    # Lazy fields (see WebexObject._from_owned_json): each declared field becomes a
    # non-data descriptor on the class, replacing the default value @dataclass leaves there
    # (class access still gives the default). Instance attributes take precedence over it,
    # so objects made by __init__ and fields already read never reach it; the generated
    # __init__ and dataclasses.fields() keep their own copies of the defaults.
    for name, (key, is_datetime, default) in specs.items():
        setattr(cls, name, _LazyField(name, key, is_datetime, default))
    return specs


@dataclass(kw_only=True, frozen=True)
class WebexObject:
    """Base of every typed result."""

    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    tracking_id: str | None = field(default=None, repr=False, compare=False)
    errors: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    #: field name -> JSON key, where the key is not the camelCase of the name
    _keys: ClassVar[dict[str, str]] = {}
    _base_fields: ClassVar[frozenset[str]] = frozenset({"raw", "tracking_id", "errors"})

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, tracking_id: str | None = None) -> Self:
        """Build from a JSON object; missing fields are None. ``.raw`` is a shallow copy of
        ``data``."""
        if cls not in _SPECS:
            _field_specs(cls)
        obj = cls._from_owned_json(dict(data), tracking_id)
        for name in _SPECS[cls]:
            getattr(obj, name)  # eager: values do not depend on later changes to ``data``
        return obj

    @classmethod
    def _from_owned_json(cls, data: dict[str, Any], tracking_id: str | None) -> Self:
        """:meth:`from_json` for a dict nobody else holds (fresh from ``json.loads``): kept
        as ``.raw`` without a copy, and read lazily.

        Only ``raw``, ``tracking_id`` and ``errors`` are set here; each declared field is
        read from ``raw`` (timestamps parsed) on first access and then cached on the
        instance, so an application that reads two fields of a 20-field item pays for two.
        Attributes, equality, hashing, ``repr``, ``dataclasses.asdict``/``replace`` and
        pickling behave as for an eagerly built object; ``vars()`` shows only the fields
        read so far. The generated ``__init__`` is bypassed (a frozen dataclass's assigns
        every field through ``object.__setattr__``); no class defines ``__post_init__``."""
        if cls not in _SPECS:
            _field_specs(cls)
        errors = data.get("errors")
        obj = object.__new__(cls)
        obj.__dict__.update(
            raw=data,
            tracking_id=tracking_id,
            errors=errors if isinstance(errors, dict) and errors else None,
        )
        return obj

    @property
    def has_errors(self) -> bool:
        """True when Webex marked fields of this item as failed (partial errors)."""
        return bool(self.errors)

    def get(self, key: str, default: Any = None) -> Any:
        """A JSON field by its Webex (camelCase) name, including fields not declared here."""
        return self.raw.get(key, default)


@dataclass(kw_only=True, frozen=True)
class Person(WebexObject):
    id: str = ""
    emails: list[str] | None = None
    phone_numbers: list[dict[str, Any]] | None = None
    extension: str | None = None
    location_id: str | None = None
    display_name: str | None = None
    nick_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    avatar: str | None = None
    org_id: str | None = None
    roles: list[str] | None = None
    licenses: list[str] | None = None
    department: str | None = None
    manager: str | None = None
    manager_id: str | None = None
    title: str | None = None
    addresses: list[dict[str, Any]] | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    timezone: str | None = None
    last_activity: datetime | None = None
    site_urls: list[str] | None = None
    sip_addresses: list[dict[str, Any]] | None = None
    xmpp_federation_jid: str | None = None
    status: str | None = None
    invite_pending: Any = None
    login_enabled: Any = None
    type: str | None = None

    @property
    def email(self) -> str | None:
        """The first e-mail address (people have exactly one today)."""
        return self.emails[0] if self.emails else None


@dataclass(kw_only=True, frozen=True)
class Room(WebexObject):
    id: str = ""
    title: str | None = None
    type: str | None = None
    is_locked: bool | None = None
    team_id: str | None = None
    last_activity: datetime | None = None
    creator_id: str | None = None
    created: datetime | None = None
    owner_id: str | None = None
    classification_id: str | None = None
    is_announcement_only: bool | None = None
    is_read_only: bool | None = None
    is_public: bool | None = None
    made_public: datetime | None = None
    description: str | None = None


@dataclass(kw_only=True, frozen=True)
class Membership(WebexObject):
    id: str = ""
    room_id: str | None = None
    person_id: str | None = None
    person_email: str | None = None
    person_display_name: str | None = None
    person_org_id: str | None = None
    is_moderator: bool | None = None
    is_room_hidden: bool | None = None
    room_type: str | None = None
    is_monitor: bool | None = None
    created: datetime | None = None


@dataclass(kw_only=True, frozen=True)
class Message(WebexObject):
    id: str = ""
    parent_id: str | None = None
    room_id: str | None = None
    room_type: str | None = None
    to_person_id: str | None = None
    to_person_email: str | None = None
    text: str | None = None
    markdown: str | None = None
    html: str | None = None
    files: list[str] | None = None
    person_id: str | None = None
    person_email: str | None = None
    mentioned_people: list[str] | None = None
    mentioned_groups: list[str] | None = None
    attachments: list[dict[str, Any]] | None = None
    created: datetime | None = None
    updated: datetime | None = None
    is_voice_clip: bool | None = None


@dataclass(kw_only=True, frozen=True)
class Team(WebexObject):
    id: str = ""
    name: str | None = None
    description: str | None = None
    created: datetime | None = None


@dataclass(kw_only=True, frozen=True)
class TeamMembership(WebexObject):
    id: str = ""
    team_id: str | None = None
    person_id: str | None = None
    person_email: str | None = None
    person_display_name: str | None = None
    person_org_id: str | None = None
    is_moderator: bool | None = None
    created: datetime | None = None


@dataclass(kw_only=True, frozen=True)
class Webhook(WebexObject):
    """A webhook registration. ``secret`` is in the dataclass but excluded from ``repr``."""

    id: str = ""
    name: str | None = None
    target_url: str | None = None
    resource: str | None = None
    event: str | None = None
    filter: str | None = None
    secret: str | None = field(default=None, repr=False)
    status: str | None = None
    created: datetime | None = None
    owned_by: str | None = None
    org_id: str | None = None
    created_by: str | None = None
    app_id: str | None = None


@dataclass(kw_only=True, frozen=True)
class AttachmentAction(WebexObject):
    id: str = ""
    person_id: str | None = None
    room_id: str | None = None
    type: str | None = None
    message_id: str | None = None
    inputs: dict[str, Any] | None = None
    created: datetime | None = None


@dataclass(kw_only=True, frozen=True)
class RoomTab(WebexObject):
    id: str = ""
    room_id: str | None = None
    room_type: str | None = None
    display_name: str | None = None
    content_url: str | None = None
    creator_id: str | None = None
    created: datetime | None = None


@dataclass(kw_only=True, frozen=True)
class Event(WebexObject):
    id: str = ""
    resource: str | None = None
    type: str | None = None
    app_id: str | None = None
    actor_id: str | None = None
    org_id: str | None = None
    created: datetime | None = None
    data: dict[str, Any] | None = None


@dataclass(kw_only=True, frozen=True)
class Organization(WebexObject):
    id: str = ""
    display_name: str | None = None
    created: datetime | None = None


@dataclass(kw_only=True, frozen=True)
class License(WebexObject):
    id: str = ""
    name: str | None = None
    total_units: int | None = None
    consumed_units: int | None = None
    consumed_by_users: int | None = None
    consumed_by_workspaces: int | None = None
    subscription_id: str | None = None
    site_url: str | None = None
    site_type: str | None = None
    users: list[dict[str, Any]] | None = None


@dataclass(kw_only=True, frozen=True)
class LicenseAssignment(WebexObject):
    """Result of ``PATCH /licenses/users``: the person's licenses after the change."""

    org_id: str | None = None
    person_id: str | None = None
    email: str | None = None
    licenses: list[str] | None = None
    site_urls: list[dict[str, Any]] | None = None


@dataclass(kw_only=True, frozen=True)
class Role(WebexObject):
    id: str = ""
    name: str | None = None
