"""Seed data for the standalone server and the demo."""

from __future__ import annotations

import uuid
from typing import Any

from .fake import FakeWebex
from .state import Person

# Deterministic demo tokens, so a demo .env can name them (they only work on the fake).
_NS = uuid.UUID("5f0c8a52-7d7e-4a34-9d1e-2c1f6b0a9e11")


def _token(name: str) -> str:
    return f"FAKE_{name.upper()}_{uuid.uuid5(_NS, name).hex}"


DEMO_OAUTH_CLIENT_ID = "fake-client-id"
DEMO_OAUTH_CLIENT_SECRET = "fake-client-secret"  # only valid on the fake
DEMO_REDIRECT_URIS = [
    "http://127.0.0.1:8000/webex/oauth/callback/",
    "http://localhost:8000/webex/oauth/callback/",
]


def seed_demo(fake: FakeWebex, redirect_uris: list[str] | None = None) -> dict[str, Any]:
    """People, a bot, an admin, a team and a space with a few messages. Returns what was made
    (``people`` name -> Person, ``room``, ``team``, ``oauth``)."""
    alice = fake.add_person("alice@example.com", "Alice Example", token=_token("alice"))
    bob = fake.add_person(
        "bob@example.com",
        "Bob Example",
        token=_token("bob"),
        licenses=["Messaging", "Advanced Messaging"],
    )
    admin = fake.add_admin(
        "admin@example.com",
        "Ada Admin",
        token=_token("admin"),
        licenses=["Messaging", "Meeting - Webex Enterprise Edition"],
    )
    bot = fake.add_bot("Echo Bot", "echo-bot@webex.bot", token=_token("bot"))
    team = fake.create_team(alice, "Demo Team", members=[bob])
    room = fake.create_room(alice, "Demo space", members=[bob, bot])
    fake.post_message(alice, room.id, markdown="Welcome to the **demo space**!")
    fake.post_message(bob, room.id, text="Hello bot", mentions=[bot])
    client = fake.register_oauth_client(
        DEMO_OAUTH_CLIENT_ID,
        DEMO_OAUTH_CLIENT_SECRET,
        redirect_uris or DEMO_REDIRECT_URIS,
        name="Demo Integration",
    )
    people: dict[str, Person] = {"alice": alice, "bob": bob, "admin": admin, "bot": bot}
    return {"people": people, "room": room, "team": team, "oauth": client}


SEEDS = {"demo": seed_demo}
