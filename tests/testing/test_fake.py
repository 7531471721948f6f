"""Core behaviour of the fake Webex over real HTTP: ids, shapes, auth, membership rules,
message rules, pagination, faults and the request log."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from django_webexteams.testing import FakeWebex, decode_id

from .conftest import Api, assert_webex_error

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_base_url_is_loopback_http_with_v1(fake_webex: Any) -> None:
    assert re.match(r"^http://127\.0\.0\.1:\d+/v1$", fake_webex.base_url)


def _decoded(webex_id: str) -> tuple[str, str]:
    decoded = decode_id(webex_id)
    assert decoded is not None, webex_id
    return decoded


def test_ids_and_timestamps_look_like_webex(fake_webex: Any, alice: Any, api: Any) -> None:
    room = api(alice).post("/rooms", json={"title": "Ids"}).json()
    assert _decoded(room["id"])[0] == "ROOM"
    assert "=" not in room["id"]
    assert ISO_MS.match(room["created"])
    me = api(alice).get("/people/me").json()
    assert _decoded(me["id"])[0] == "PEOPLE"
    membership = api(alice).get("/memberships", params={"roomId": room["id"]}).json()["items"][0]
    kind, raw = _decoded(membership["id"])
    assert kind == "MEMBERSHIP" and raw.count(":") == 1


def test_every_response_has_tracking_id(fake_webex: Any, alice: Any, api: Any) -> None:
    ok = api(alice).get("/people/me")
    bad = requests.get(fake_webex.base_url + "/people/me", timeout=5)
    assert ok.headers["TrackingID"].startswith("ROUTER_")
    assert bad.headers["TrackingID"].startswith("ROUTER_")
    assert ok.headers["TrackingID"] != bad.headers["TrackingID"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]
)
def test_unknown_or_missing_token_is_401(fake_webex: Any, headers: Any) -> None:
    resp = requests.get(fake_webex.base_url + "/rooms", headers=headers, timeout=5)
    body = assert_webex_error(resp, 401)
    assert "access token" in body["message"]


def test_expired_token_is_401_on_the_fake_clock(fake_webex: Any, alice: Any) -> None:
    token = fake_webex.issue_token(alice, expires_in=3600)
    session = Api(fake_webex.base_url, token)
    assert session.get("/people/me").status_code == 200
    fake_webex.clock.advance(3601)
    assert_webex_error(session.get("/people/me"), 401)


def test_person_sees_only_rooms_they_belong_to(
    fake_webex: Any, alice: Any, bob: Any, api: Any
) -> None:
    room = fake_webex.create_room(alice, "Private")
    assert_webex_error(api(bob).get(f"/rooms/{room.id}"), 404)
    assert_webex_error(api(bob).get("/messages", params={"roomId": room.id}), 404)
    assert_webex_error(api(bob).post("/messages", json={"roomId": room.id, "text": "x"}), 404)
    assert api(bob).get("/rooms").json()["items"] == []
    fake_webex.add_member(alice, room.id, bob)
    assert api(bob).get(f"/rooms/{room.id}").status_code == 200
    assert [r["id"] for r in api(bob).get("/rooms").json()["items"]] == [room.id]


def test_bot_must_pass_mentioned_people_me_in_group_rooms(
    fake_webex: Any, alice: Any, bot: Any, api: Any
) -> None:
    room = fake_webex.create_room(alice, "Group", members=[bot])
    fake_webex.post_message(alice, room.id, text="not for the bot")
    hit = fake_webex.post_message(alice, room.id, text="for the bot", mentions=[bot])
    assert_webex_error(api(bot).get("/messages", params={"roomId": room.id}), 403)
    listed = api(bot).get("/messages", params={"roomId": room.id, "mentionedPeople": "me"})
    assert [m["id"] for m in listed.json()["items"]] == [hit.id]
    assert hit["mentionedPeople"] == [bot.id]


def test_bot_lists_direct_room_without_mentions(
    fake_webex: Any, alice: Any, bot: Any, api: Any
) -> None:
    sent = fake_webex.post_message(alice, to_person=bot, text="hello bot")
    resp = api(bot).get("/messages", params={"roomId": sent.roomId})
    assert resp.status_code == 200
    assert [m["text"] for m in resp.json()["items"]] == ["hello bot"]


def test_message_needs_exactly_one_target(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "T")
    body = assert_webex_error(
        api(alice).post("/messages", json={"roomId": room.id, "toPersonId": bob.id, "text": "x"}),
        400,
    )
    assert "destination" in body["message"]
    assert_webex_error(api(alice).post("/messages", json={"text": "x"}), 400)


def test_message_text_limit_is_7439_bytes(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "T")
    ok = api(alice).post("/messages", json={"roomId": room.id, "text": "é" * 3719})  # 7438 B
    assert ok.status_code == 200
    too_long = api(alice).post("/messages", json={"roomId": room.id, "markdown": "x" * 7440})
    assert_webex_error(too_long, 400)


def test_empty_message_is_rejected(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "T")
    body = assert_webex_error(api(alice).post("/messages", json={"roomId": room.id}), 400)
    assert body["message"] == "Both text and file cannot be empty."


def test_direct_message_by_email_creates_direct_room(
    fake_webex: Any, alice: Any, bob: Any, api: Any
) -> None:
    sent = api(alice).post("/messages", json={"toPersonEmail": bob.email, "text": "hi"}).json()
    assert sent["roomType"] == "direct" and sent["toPersonEmail"] == bob.email
    again = api(alice).post("/messages", json={"toPersonId": bob.id, "text": "again"}).json()
    assert again["roomId"] == sent["roomId"]
    direct = api(bob).get("/messages/direct", params={"personEmail": alice.email}).json()
    assert [m["text"] for m in direct["items"]] == ["again", "hi"]


def test_edit_rules(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "T", members=[bob])
    msg = fake_webex.post_message(alice, room.id, text="v0")
    for i in range(10):
        resp = api(alice).put(f"/messages/{msg.id}", json={"roomId": room.id, "text": f"v{i + 1}"})
        assert resp.status_code == 200
        assert resp.json()["updated"]
    assert_webex_error(
        api(alice).put(f"/messages/{msg.id}", json={"roomId": room.id, "text": "v11"}), 400
    )
    assert_webex_error(
        api(bob).put(f"/messages/{msg.id}", json={"roomId": room.id, "text": "mine"}), 403
    )
    card = fake_webex.post_message(
        alice,
        room.id,
        text="card",
        attachments=[
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.2", "body": []},
            }
        ],
    )
    assert_webex_error(
        api(alice).put(f"/messages/{card.id}", json={"roomId": room.id, "text": "x"}), 400
    )


def test_messages_newest_first_with_paging_and_filters(
    fake_webex: Any, alice: Any, api: Any
) -> None:
    room = fake_webex.create_room(alice, "Paging")
    sent = [fake_webex.post_message(alice, room.id, text=f"m{i}") for i in range(7)]
    resp = api(alice).get("/messages", params={"roomId": room.id, "max": 3})
    texts = [m["text"] for m in resp.json()["items"]]
    assert texts == ["m6", "m5", "m4"]
    pages = [texts]
    while "next" in resp.links:
        resp = api(alice).get(resp.links["next"]["url"])
        assert resp.status_code == 200
        pages.append([m["text"] for m in resp.json()["items"]])
    assert pages == [["m6", "m5", "m4"], ["m3", "m2", "m1"], ["m0"]]
    before = (
        api(alice)
        .get("/messages", params={"roomId": room.id, "beforeMessage": sent[2].id})
        .json()["items"]
    )
    assert [m["text"] for m in before] == ["m1", "m0"]
    reply = fake_webex.post_message(alice, room.id, text="reply", parent_id=sent[0].id)
    thread = api(alice).get("/messages", params={"roomId": room.id, "parentId": sent[0].id})
    assert [m["id"] for m in thread.json()["items"]] == [reply.id]


def test_next_link_keeps_filters_and_is_stable_under_inserts(
    fake_webex: Any, alice: Any, api: Any
) -> None:
    room = fake_webex.create_room(alice, "Stable")
    for i in range(4):
        fake_webex.post_message(alice, room.id, text=f"m{i}")
    first = api(alice).get("/messages", params={"roomId": room.id, "max": 2})
    assert "roomId=" in first.links["next"]["url"]
    fake_webex.post_message(alice, room.id, text="new")
    second = api(alice).get(first.links["next"]["url"])
    assert [m["text"] for m in second.json()["items"]] == ["m1", "m0"]


def test_max_above_limit_is_clamped_and_bad_max_is_400(
    fake_webex: Any, alice: Any, api: Any
) -> None:
    fake_webex.create_room(alice, "R")
    assert api(alice).get("/rooms", params={"max": 5000}).status_code == 200
    assert_webex_error(api(alice).get("/rooms", params={"max": "lots"}), 400)
    assert_webex_error(api(alice).get("/rooms", params={"max": 0}), 400)


def test_quirk_next_link_max_null(fake_webex: Any, alice: Any, api: Any) -> None:
    fake_webex.quirks.next_link_max_null = True
    room = fake_webex.create_room(alice, "Q")
    for i in range(3):
        fake_webex.post_message(alice, room.id, text=str(i))
    resp = api(alice).get("/messages", params={"roomId": room.id, "max": 2})
    assert "max=null" in resp.links["next"]["url"]


def test_fail_next_then_recover(fake_webex: Any, alice: Any, api: Any) -> None:
    fake_webex.fail_next(503, times=2, retry_after=3)
    for _ in range(2):
        resp = api(alice).get("/people/me")
        assert_webex_error(resp, 503)
        assert resp.headers["Retry-After"] == "3"
    assert api(alice).get("/people/me").status_code == 200


def test_malformed_retry_after_is_sent_verbatim(fake_webex: Any, alice: Any, api: Any) -> None:
    fake_webex.fail_next(429, retry_after="rand(30),add(30)")
    resp = api(alice).get("/people/me")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "rand(30),add(30)"


def test_rate_limit_per_token(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    fake_webex.set_rate_limit(per_minute=3)
    for _ in range(3):
        assert api(alice).get("/people/me").status_code == 200
    limited = api(alice).get("/people/me")
    assert_webex_error(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert api(bob).get("/people/me").status_code == 200  # other token unaffected
    fake_webex.clock.advance(61)
    assert api(alice).get("/people/me").status_code == 200


def test_dropped_connection(fake_webex: Any, alice: Any, api: Any) -> None:
    fake_webex.drop_next_connection()
    with pytest.raises(requests.ConnectionError):
        api(alice).get("/people/me")
    assert api(alice).get("/people/me").status_code == 200


def test_request_log_and_count_never_keep_authorization(
    fake_webex: Any, alice: Any, api: Any
) -> None:
    api(alice).get("/people/me")
    assert fake_webex.count("GET", "/people/me") == 1
    assert fake_webex.count("GET", "/v1/people/me") == 1
    rec = fake_webex.requests[-1]
    assert rec.person_id == alice.id and "authorization" not in rec.headers
    assert alice.token not in repr(fake_webex.requests)


def test_adapter_serves_in_process(alice: Any, fake_webex: Any) -> None:
    session = fake_webex.session()
    resp = session.get(
        fake_webex.base_url + "/people/me",
        headers={"Authorization": f"Bearer {alice.token}"},
    )
    assert resp.status_code == 200 and resp.json()["id"] == alice.id
    assert resp.headers["TrackingID"].startswith("ROUTER_")


def test_adapter_without_server() -> None:
    fake = FakeWebex()  # never started: in-process only
    carol = fake.add_person("carol@example.com")
    session = fake.session()
    resp = session.get(
        fake.base_url + "/people/me", headers={"Authorization": f"Bearer {carol.token}"}
    )
    assert resp.status_code == 200
    fake.drop_next_connection()
    with pytest.raises(requests.ConnectionError):
        session.get(fake.base_url + "/people/me")


def test_helpers_refuse_what_the_api_refuses(fake_webex: Any, alice: Any, bob: Any) -> None:
    from django_webexteams.testing import FakeCallError

    room = fake_webex.create_room(alice, "Mine")
    with pytest.raises(FakeCallError) as exc:
        fake_webex.post_message(bob, room.id, text="not a member")
    assert exc.value.status == 404


def test_person_repr_hides_token(alice: Any) -> None:
    assert alice.token not in repr(alice)


def test_keep_alive_reuses_one_connection(fake_webex: Any, alice: Any) -> None:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {alice.token}"}
    before = fake_webex.connections
    for _ in range(5):
        assert session.get(fake_webex.base_url + "/people/me", headers=headers).ok
    assert fake_webex.connections - before == 1


def test_concurrent_requests_are_consistent(fake_webex: Any, alice: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    room = fake_webex.create_room(alice, "Busy")

    def post(i: int) -> str:
        resp = Api(fake_webex.base_url, alice.token).post(
            "/messages", json={"roomId": room.id, "text": f"m{i}"}
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(post, range(40)))
    assert len(set(ids)) == 40
    assert len(fake_webex.messages_in(room.id)) == 40
    assert fake_webex.unexpected_errors == []


def test_latency_is_applied(fake_webex: Any, alice: Any, api: Any, monkeypatch: Any) -> None:
    slept: list[float] = []
    monkeypatch.setattr("django_webexteams.testing.app._sleep", slept.append)
    fake_webex.set_latency(0.25, path="/rooms")
    api(alice).get("/people/me")
    api(alice).get("/rooms")
    assert slept == [0.25]


def test_quirk_next_link_drops_filters(fake_webex: Any, alice: Any, api: Any) -> None:
    fake_webex.quirks.next_link_drops_filters = True
    room = fake_webex.create_room(alice, "Q")
    for i in range(3):
        fake_webex.post_message(alice, room.id, text=str(i))
    resp = api(alice).get("/messages", params={"roomId": room.id, "max": 2})
    assert "roomId" not in resp.links["next"]["url"]
    assert_webex_error(api(alice).get(resp.links["next"]["url"]), 400)


def test_reset_faults(fake_webex: Any, alice: Any, api: Any) -> None:
    fake_webex.fail_next(500, times=5)
    fake_webex.set_rate_limit(per_minute=1)
    fake_webex.reset_faults()
    for _ in range(3):
        assert api(alice).get("/people/me").status_code == 200


def test_stop_ends_keep_alive_threads() -> None:
    import threading

    before = set(threading.enumerate())
    fake = FakeWebex().start()
    bob = fake.add_person("bob@example.com")
    session = requests.Session()
    resp = session.get(
        fake.base_url + "/people/me", headers={"Authorization": f"Bearer {bob.token}"}
    )
    assert resp.ok
    handlers = [
        t for t in set(threading.enumerate()) - before if "process_request_thread" in t.name
    ]
    assert handlers, "the keep-alive connection is served by a handler thread"
    fake.stop()
    for t in handlers:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in handlers)
    session.close()


def test_client_giving_up_is_not_a_server_error(
    fake_webex: Any, alice: Any, capfd: Any, caplog: Any
) -> None:
    fake_webex.set_latency(0.5)
    with pytest.raises(requests.Timeout):
        requests.get(
            fake_webex.base_url + "/people/me",
            headers={"Authorization": f"Bearer {alice.token}"},
            timeout=0.05,
        )
    fake_webex.set_latency(0)
    # The server keeps serving and prints no traceback for the vanished client.
    assert Api(fake_webex.base_url, alice.token).get("/people/me").ok
    import time

    time.sleep(0.6)  # let the slow handler finish writing to the closed socket
    assert "Traceback" not in capfd.readouterr().err
    assert fake_webex.unexpected_errors == []


def test_start_and_stop_leave_no_file_descriptor_open() -> None:
    """A fake per test (the fixture) must not leak: websockets' sync server opened a pipe per
    fake that nothing closed, two descriptors per start/stop, so a long suite ran out."""
    import gc
    import os

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    with FakeWebex():  # the first start imports and caches what later ones reuse
        pass
    gc.collect()
    before = open_fds()
    for _ in range(20):
        fake = FakeWebex()
        fake.start()
        assert fake.ws_port  # both servers really started
        fake.stop()
    gc.collect()
    assert open_fds() - before <= 2, "start/stop leaks file descriptors"
