"""Typed results: snake_case fields from the spec examples, .raw, aware datetimes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from django_webexteams.client import models

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-10-18T14:26:16.203Z", datetime(2015, 10, 18, 14, 26, 16, 203000, tzinfo=UTC)),
        ("2015-10-18T14:26:16Z", datetime(2015, 10, 18, 14, 26, 16, tzinfo=UTC)),
        ("2015-10-18T14:26:16+00:00", datetime(2015, 10, 18, 14, 26, 16, tzinfo=UTC)),
        ("2015-10-18T14:26:16.1Z", datetime(2015, 10, 18, 14, 26, 16, 100000, tzinfo=UTC)),
        ("2015-10-18T14:26:16.123456789Z", datetime(2015, 10, 18, 14, 26, 16, 123456, tzinfo=UTC)),
        (
            "2015-10-18T16:26:16+02:00",
            datetime(2015, 10, 18, 16, 26, 16, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2015-10-18T14:26:16", datetime(2015, 10, 18, 14, 26, 16, tzinfo=UTC)),
        ("not a date", None),
        ("2015-13-45T99:00:00Z", None),
        (12345, None),
        (None, None),
    ],
)
def test_parse_datetime(value: Any, expected: datetime | None) -> None:
    parsed = models.parse_datetime(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_message_from_spec_example() -> None:
    example = EXAMPLES["GET /messages/{messageId}"]["response"]
    message = models.Message.from_json(example, tracking_id="T")
    assert message.id == example["id"]
    assert message.room_id == example["roomId"]
    assert message.person_email == example["personEmail"]
    assert message.mentioned_people == example["mentionedPeople"]
    assert message.created is not None and message.created.tzinfo is not None
    assert message.raw == example and message.tracking_id == "T"


def test_unknown_fields_are_kept_in_raw() -> None:
    room = models.Room.from_json({"id": "R", "title": "t", "brandNewField": {"x": 1}})
    assert room.raw["brandNewField"] == {"x": 1}
    assert room.get("brandNewField") == {"x": 1}
    assert room.get("missing", "d") == "d"
    assert room.is_locked is None


def test_bad_timestamp_keeps_raw_and_gives_none() -> None:
    room = models.Room.from_json({"id": "R", "created": "yesterday"})
    assert room.created is None and room.raw["created"] == "yesterday"


@pytest.mark.parametrize(
    ("cls", "key"),
    [
        (models.Person, "GET /people/{personId}"),
        (models.Room, "GET /rooms/{roomId}"),
        (models.Membership, "GET /memberships/{membershipId}"),
        (models.Message, "GET /messages/{messageId}"),
        (models.Team, "GET /teams/{teamId}"),
        (models.TeamMembership, "GET /team/memberships/{membershipId}"),
        (models.Webhook, "GET /webhooks/{webhookId}"),
        (models.AttachmentAction, "GET /attachment/actions/{id}"),
        (models.RoomTab, "GET /room/tabs/{id}"),
        (models.Event, "GET /events/{eventId}"),
        (models.Organization, "GET /organizations/{orgId}"),
        (models.License, "GET /licenses/{licenseId}"),
        (models.Role, "GET /roles/{roleId}"),
        (models.LicenseAssignment, "PATCH /licenses/users"),
    ],
)
def test_every_spec_field_becomes_a_snake_case_attribute(
    cls: type[models.WebexObject], key: str
) -> None:
    example = EXAMPLES[key]["response"]
    obj = cls.from_json(example)
    names = {f.name for f in dataclasses.fields(obj)}
    for json_key, value in example.items():
        snake = "".join("_" + c.lower() if c.isupper() else c for c in json_key)
        assert snake in names, f"{cls.__name__} lacks {snake} ({json_key})"
        attr = getattr(obj, snake)
        if isinstance(attr, datetime):
            assert attr.tzinfo is not None
        else:
            assert attr == value


def test_webhook_secret_not_in_repr() -> None:
    hook = models.Webhook.from_json({"id": "W", "secret": "TOP-SECRET", "name": "n"})
    assert hook.secret == "TOP-SECRET"
    assert "TOP-SECRET" not in repr(hook)


def test_objects_are_frozen_and_compare_by_fields() -> None:
    a = models.Team.from_json({"id": "T", "name": "n"}, tracking_id="1")
    b = models.Team.from_json({"id": "T", "name": "n", "x": 1}, tracking_id="2")
    assert a == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "other"  # type: ignore[misc]
