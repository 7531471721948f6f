"""The official Python SDK (webexpythonsdk) against the fake over real HTTP: it must not be
able to tell the difference on everyday work."""

from __future__ import annotations

from typing import Any

import pytest

webexpythonsdk = pytest.importorskip("webexpythonsdk")


@pytest.fixture
def sdk(fake_webex: Any, alice: Any) -> Any:
    # The SDK wants the base URL with a trailing slash.
    return webexpythonsdk.WebexAPI(
        access_token=alice.token, base_url=fake_webex.base_url + "/", single_request_timeout=10
    )


@pytest.fixture
def admin_sdk(fake_webex: Any, admin: Any) -> Any:
    return webexpythonsdk.WebexAPI(
        access_token=admin.token, base_url=fake_webex.base_url + "/", single_request_timeout=10
    )


def test_rooms_messages_and_pagination(fake_webex: Any, sdk: Any, alice: Any, bob: Any) -> None:
    room = sdk.rooms.create("SDK room")
    other = sdk.rooms.create("SDK other room")
    assert {r.id for r in sdk.rooms.list()} == {room.id, other.id}
    sdk.memberships.create(roomId=room.id, personEmail=bob.email)
    for i in range(25):
        sdk.messages.create(roomId=room.id, text=f"message {i}")
    before = fake_webex.count("GET", "/messages")
    texts = [m.text for m in sdk.messages.list(roomId=room.id, max=10)]
    assert texts == [f"message {i}" for i in reversed(range(25))]
    assert fake_webex.count("GET", "/messages") - before == 3  # three pages followed
    newest = next(iter(sdk.messages.list(roomId=room.id, max=1)))
    got = sdk.messages.get(newest.id)
    assert got.text == "message 24" and got.roomId == room.id


def test_people_me_and_direct_messages(fake_webex: Any, sdk: Any, alice: Any, bob: Any) -> None:
    me = sdk.people.me()
    assert me.id == alice.id and me.emails == [alice.email]
    sent = sdk.messages.create(toPersonEmail=bob.email, markdown="**hi** bob")
    assert sent.roomType == "direct"
    bob_sdk = webexpythonsdk.WebexAPI(access_token=bob.token, base_url=fake_webex.base_url + "/")
    assert [m.id for m in bob_sdk.messages.list_direct(personId=alice.id)] == [sent.id]
    assert next(iter(sdk.people.list(email=bob.email))).displayName == "Bob Example"


def test_webhooks_create_and_list(fake_webex: Any, sdk: Any) -> None:
    hook = sdk.webhooks.create(
        name="SDK hook",
        targetUrl="http://127.0.0.1:9/hook",
        resource="messages",
        event="created",
        secret="sdk-secret",
    )
    assert [h.id for h in sdk.webhooks.list()] == [hook.id]
    assert sdk.webhooks.get(hook.id).status == "active"
    sdk.webhooks.delete(hook.id)
    assert list(sdk.webhooks.list()) == []


def test_licenses_roles_organizations(fake_webex: Any, admin_sdk: Any, sdk: Any) -> None:
    names = {lic.name for lic in admin_sdk.licenses.list()}
    assert {"Messaging", "Advanced Messaging", "Meeting - Webex Enterprise Edition"} <= names
    roles = {r.name for r in admin_sdk.roles.list()}
    assert "Full Administrator" in roles
    assert [o.id for o in admin_sdk.organizations.list()] == [fake_webex.org_id]
    with pytest.raises(webexpythonsdk.ApiError) as exc:
        list(sdk.licenses.list())
    assert exc.value.status_code == 403


def test_rate_limit_429_then_recover(fake_webex: Any, sdk: Any, alice: Any) -> None:
    fake_webex.fail_next(429, retry_after=1, path="/people/me")
    with pytest.warns(webexpythonsdk.RateLimitWarning):
        me = sdk.people.me()  # the SDK waits Retry-After (1 s) and retries
    assert me.id == alice.id
    assert fake_webex.count("GET", "/people/me") == 2
    statuses = [r.status for r in fake_webex.requests if r.path == "/people/me"]
    assert statuses == [429, 200]


def test_errors_reach_the_sdk_with_tracking_id(fake_webex: Any, sdk: Any) -> None:
    with pytest.raises(webexpythonsdk.ApiError) as exc:
        sdk.rooms.get("Y2lzY29zcGFyazovL3VzL1JPT00vbm9wZQ")
    assert exc.value.status_code == 404
    assert exc.value.tracking_id and exc.value.tracking_id.startswith("ROUTER_")


def test_local_file_upload_and_download(
    fake_webex: Any, sdk: Any, alice: Any, tmp_path: Any
) -> None:
    import requests

    room = sdk.rooms.create("Files")
    path = tmp_path / "report.txt"
    path.write_bytes(b"quarterly numbers\n")
    msg = sdk.messages.create(roomId=room.id, text="see file", files=[str(path)])
    (url,) = msg.files
    assert url.startswith(fake_webex.base_url + "/contents/")
    headers = {"Authorization": f"Bearer {alice.token}"}
    head = requests.head(url, headers=headers, timeout=5)
    assert head.headers["Content-Disposition"] == 'attachment; filename="report.txt"'
    assert head.headers["Content-Length"] == str(len(b"quarterly numbers\n"))
    assert head.headers["Content-Type"].startswith("text/plain")
    assert requests.get(url, headers=headers, timeout=5).content == b"quarterly numbers\n"


def test_teams_and_card_actions(fake_webex: Any, sdk: Any, alice: Any, bob: Any) -> None:
    team = sdk.teams.create("SDK team")
    sdk.team_memberships.create(teamId=team.id, personId=bob.id)
    assert {m.personId for m in sdk.team_memberships.list(teamId=team.id)} == {alice.id, bob.id}
    room = sdk.rooms.create("Card room")
    sdk.memberships.create(roomId=room.id, personId=bob.id)
    card = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.2", "body": []},
    }
    msg = sdk.messages.create(roomId=room.id, text="card", attachments=[card])
    bob_sdk = webexpythonsdk.WebexAPI(access_token=bob.token, base_url=fake_webex.base_url + "/")
    action = bob_sdk.attachment_actions.create(type="submit", messageId=msg.id, inputs={"x": "1"})
    assert sdk.attachment_actions.get(action.id).inputs == {"x": "1"}


def test_rate_limiter_429_then_recover(fake_webex: Any, sdk: Any, alice: Any) -> None:
    # The per-token limiter (not a scripted failure): 3 requests per second, Retry-After 1.
    fake_webex.set_rate_limit(per_second=3, retry_after=1)
    with pytest.warns(webexpythonsdk.RateLimitWarning):
        ids = [sdk.people.me().id for _ in range(5)]
    assert ids == [alice.id] * 5
    statuses = [r.status for r in fake_webex.requests if r.path == "/people/me"]
    assert 429 in statuses and statuses.count(200) == 5
