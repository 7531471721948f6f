"""Fixtures of the admin tests: a fake Webex with a bot, people and spaces; staff users."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from django_webexteams.models import Credential


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    """The fake Webex seen by the admin: ``bot`` is WEBEXTEAMS["BOT_TOKEN"]."""

    fake: Any
    bot: Any
    alice: Any
    admin: Any
    rooms: list[Any] = field(default_factory=list)


@pytest.fixture
def world(fake_webex: Any, settings: Any) -> World:
    bot = fake_webex.add_bot("Admin Bot")
    alice = fake_webex.add_person("alice@example.com", "Alice")
    admin = fake_webex.add_admin("boss@example.com", "Boss")
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake_webex.base_url,
        "BOT_TOKEN": bot.token,
        "WEBHOOK_BASE_URL": "https://bot.example.com",
        # Small timeouts: failure tests stay quick.
        "REQUEST_TIMEOUT": (2.0, 5.0),
    }
    return World(fake=fake_webex, bot=bot, alice=alice, admin=admin)


@pytest.fixture
def spaces(world: World) -> list[Any]:
    """Seven group spaces and one 1:1 space with the bot in each (titles "Space 1".. ,
    "Direct with Alice")."""
    rooms = [
        world.fake.create_room(world.alice, f"Space {i}", members=[world.bot]) for i in range(1, 8)
    ]
    world.rooms = rooms
    return rooms


def _user(django_user_model: Any, username: str, *perms: str, **extra: Any) -> Any:
    user = django_user_model.objects.create_user(
        username=username, password="pw", email=f"{username}@example.com", **extra
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def staff_plain(django_user_model: Any) -> Any:
    """Staff without any permission of this app."""
    return _user(django_user_model, "plain", is_staff=True)


@pytest.fixture
def staff_viewer(django_user_model: Any) -> Any:
    """Staff with the view permissions of the two live pages (and nothing else)."""
    return _user(
        django_user_model,
        "viewer",
        "webexteams.view_space",
        "webexteams.view_license",
        is_staff=True,
    )


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser(
        username="root", password="pw", email="root@example.com"
    )


@pytest.fixture
def su_client(superuser: Any) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def admin_credential(world: World, superuser: Any) -> Credential:
    """The superuser's own linked Webex account: a Webex administrator (licenses, orgs)."""
    return Credential.objects.create(
        kind=Credential.Kind.USER,
        owner=superuser,
        webex_person_id=world.admin.id,
        email="boss@example.com",
        display_name="Boss",
        access_token=world.admin.token,
    )


@pytest.fixture
def enqueued(monkeypatch: Any) -> list[int]:
    """Outbox rows handed to the queue (instead of sending Celery tasks)."""
    from django_webexteams.messaging import queue

    calls: list[int] = []
    monkeypatch.setattr(queue, "enqueue_delivery", lambda pk, **kw: calls.append(pk))
    return calls


def messages_of(response: Any) -> list[str]:
    """The admin messages on a rendered page."""
    return [str(m) for m in response.context["messages"]]
