"""The client over real HTTP against the shipped fake Webex (django_webexteams.testing):
the same client code, a stateful server, faults injected on the wire."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from django_webexteams.client import (
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    WebexClient,
)

testing = pytest.importorskip("django_webexteams.testing")


@pytest.fixture
def fake() -> Iterator[Any]:
    with testing.FakeWebex() as server:
        yield server


def _client(fake: Any, token: str, **kw: Any) -> WebexClient:
    kw.setdefault("retry", RetryPolicy(sleep=lambda s: None))
    return WebexClient(token, base_url=fake.base_url, **kw)


def test_messaging_story(fake: Any) -> None:
    alice = fake.add_person("alice@example.com", "Alice")
    bot = fake.add_bot("Echo Bot")
    client = _client(fake, alice.token)
    me = client.people.me()
    assert me.id == alice.id and me.email == "alice@example.com" and me.tracking_id
    room = client.rooms.create("Project")
    client.memberships.create(room.id, person_email=bot.email)
    members = {m.person_email for m in client.memberships.list(room_id=room.id)}
    assert members == {"alice@example.com", bot.email}
    for i in range(5):
        client.messages.create(room_id=room.id, markdown=f"msg {i}")
    texts = [m.markdown or m.text for m in client.messages.list(room.id, max=2)]
    assert texts == [f"msg {i}" for i in reversed(range(5))]  # newest first, 3 pages
    pages = list(client.messages.list(room.id, max=2).pages())
    assert [len(p.items) for p in pages][:3] == [2, 2, 1]
    assert all(p.tracking_id for p in pages)


def test_next_link_quirks_are_survived(fake: Any) -> None:
    alice = fake.add_person("alice@example.com", "Alice")
    bot = fake.add_bot("Bot")
    room = fake.create_room(alice, "Room", members=[bot])
    for i in range(5):
        fake.post_message(alice, room.id, text=f"hey {i}", mentions=[bot])
    fake.post_message(alice, room.id, text="not for the bot")
    fake.quirks.next_link_max_null = True
    fake.quirks.next_link_drops_filters = True
    bot_client = _client(fake, bot.token)
    seen = list(bot_client.messages.list(room.id, mentioned_people="me", max=2))
    assert len(seen) == 5 and all(bot.id in (m.mentioned_people or []) for m in seen)


def test_files_round_trip(fake: Any, tmp_path: Any) -> None:
    alice = fake.add_person("alice@example.com", "Alice")
    client = _client(fake, alice.token)
    room = client.rooms.create("Files")
    msg = client.messages.create(
        room_id=room.id, text="report", files=[("résumé.txt", b"hello file", "text/plain")]
    )
    assert msg.files and msg.files[0].startswith(fake.base_url)
    info = client.contents.info(msg.files[0])
    assert info.filename == "résumé.txt" and info.size == 10
    assert info.content_type == "text/plain"
    buffer = io.BytesIO()
    client.contents.download(msg.files[0], buffer)
    assert buffer.getvalue() == b"hello file"
    client.contents.download(msg.files[0], tmp_path)
    assert (tmp_path / "résumé.txt").read_bytes() == b"hello file"


def test_webhooks_crud(fake: Any) -> None:
    bot = fake.add_bot("Hook Bot")
    client = _client(fake, bot.token)
    hook = client.webhooks.create(
        "h", "http://127.0.0.1:9/hook", "messages", "created", secret="s3cret"
    )
    assert hook.id and hook.status == "active"
    assert [h.id for h in client.webhooks.list()] == [hook.id]
    updated = client.webhooks.update(hook.id, "h2", "http://127.0.0.1:9/hook2")
    assert updated.name == "h2"
    client.webhooks.delete(hook.id)
    with pytest.raises(NotFoundError) as info:
        client.webhooks.get(hook.id)
    assert info.value.tracking_id


def test_faults_retries_and_rate_limits(fake: Any) -> None:
    alice = fake.add_person("alice@example.com", "Alice")
    sleeps: list[float] = []
    client = _client(fake, alice.token, retry=RetryPolicy(sleep=sleeps.append))
    fake.fail_next(503, times=2, method="GET", path="/people")
    assert client.people.me().id == alice.id
    assert len(sleeps) == 2
    fake.fail_next(503, method="POST", path="/rooms")
    with pytest.raises(ServerError):
        client.rooms.create("never retried")
    assert fake.count("POST", "/rooms") == 1  # POST: exactly one attempt
    fake.fail_next(429, retry_after=2, path="/people")
    with pytest.raises(RateLimitedError) as info:
        client.people.me()
    assert info.value.retry_after == 2.0
    fake.fail_next(429, retry_after="rand(30),add(30)", path="/people")
    with pytest.raises(RateLimitedError) as info:
        client.people.me()
    assert info.value.retry_after == 15.0
    waiting = _client(
        fake, alice.token, retry=RetryPolicy(wait_on_rate_limit=True, sleep=sleeps.append)
    )
    sleeps.clear()
    fake.fail_next(429, retry_after=3, path="/people")
    assert waiting.people.me().id == alice.id and sleeps == [3.0]
    sleeps.clear()
    fake.drop_next_connection(path="/people")
    assert client.people.me().id == alice.id and len(sleeps) == 1
