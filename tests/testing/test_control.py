"""The fake's opt-in control API (``/_fake/``): what the demo uses to inject a 429 into the
bot's next post and to watch deliveries when the fake runs in another process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from django_webexteams.testing import FakeWebex
from django_webexteams.testing.control import _is_loopback
from tests.testing.conftest import Api, assert_webex_error


@pytest.fixture
def controlled() -> Iterator[FakeWebex]:
    with FakeWebex(control=True) as fake:
        yield fake


def _post(fake: FakeWebex, name: str, body: Any = None) -> requests.Response:
    return requests.post(f"{fake.url}/_fake/{name}", json=body, timeout=5)


def test_off_by_default(fake_webex: Any) -> None:
    resp = requests.post(f"{fake_webex.url}/_fake/fail-next", json={"status": 500}, timeout=5)
    assert resp.status_code == 404
    assert fake_webex.faults.rules == []


def test_fail_next_scoped_to_a_person(controlled: FakeWebex) -> None:
    alice = controlled.add_person("alice@example.com", "Alice")
    bot = controlled.add_bot("Echo Bot")
    room = controlled.create_room(alice, "Space", members=[bot])
    resp = _post(
        controlled,
        "fail-next",
        {
            "status": 429,
            "retry_after": 2,
            "method": "POST",
            "path": "/messages",
            "person": bot.email,
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["armed"]["status"] == 429

    # Alice's post is not the bot's: it goes through.
    as_alice = Api(controlled.base_url, alice.token)
    assert as_alice.post("/messages", json={"roomId": room.id, "text": "hi"}).status_code == 200
    # The bot's first post gets the 429 with Retry-After, its second goes through.
    as_bot = Api(controlled.base_url, bot.token)
    first = as_bot.post("/messages", json={"roomId": room.id, "text": "hello"})
    assert_webex_error(first, 429)
    assert first.headers["Retry-After"] == "2"
    assert as_bot.post("/messages", json={"roomId": room.id, "text": "hello"}).status_code == 200

    listed = requests.get(
        f"{controlled.url}/_fake/requests",
        params={"method": "POST", "path": "/messages", "person": bot.id},
        timeout=5,
    ).json()["items"]
    # The injected 429 is recorded with the caller's person id, although no route ran.
    assert [r["status"] for r in listed] == [429, 200]


def test_fail_next_rejects_bad_input(controlled: FakeWebex) -> None:
    assert_webex_error(_post(controlled, "fail-next", {}), 400)
    assert_webex_error(_post(controlled, "fail-next", {"status": 200}), 400)
    assert_webex_error(_post(controlled, "fail-next", {"status": "429"}), 400)
    assert_webex_error(_post(controlled, "fail-next", {"status": 429, "times": 0}), 400)
    assert_webex_error(_post(controlled, "fail-next", {"status": 429, "person": "nobody@x"}), 400)
    assert_webex_error(_post(controlled, "nope", {}), 404)
    resp = requests.get(f"{controlled.url}/_fake/fail-next", timeout=5)
    assert_webex_error(resp, 405)
    assert controlled.faults.rules == []


def test_reset_faults(controlled: FakeWebex) -> None:
    controlled.fail_next(503, times=5)
    assert _post(controlled, "reset-faults").status_code == 204
    assert controlled.faults.rules == []


def test_deliveries_show_metadata_never_the_body(controlled: FakeWebex) -> None:
    alice = controlled.add_person("alice@example.com", "Alice")
    bot = controlled.add_bot("Echo Bot")
    room = controlled.create_room(alice, "Space", members=[bot])
    # A target nobody listens on: the delivery is attempted and fails.
    controlled.create_webhook(bot, "hook", "http://127.0.0.1:9/hook", "messages", "created",
                              secret="s" * 32)  # fmt: skip
    message = controlled.post_message(alice, room.id, text="secret words", mentions=[bot])
    controlled.wait_for_deliveries(1)
    controlled.wait_for_idle()
    resp = requests.get(f"{controlled.url}/_fake/deliveries", timeout=5)
    assert resp.status_code == 200
    [item] = resp.json()["items"]
    assert item["resource"] == "messages" and item["event"] == "created"
    assert item["data_id"] == message.id and item["signed"] is True
    assert item["status_code"] is None and item["error"]
    assert "secret words" not in resp.text and "X-Spark-Signature" not in resp.text


@pytest.mark.parametrize(
    ("addr", "expected"),
    [("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), (None, True),
     ("10.0.0.1", False), ("192.168.1.2", False), ("not-an-ip", False)],
)  # fmt: skip
def test_loopback_only(addr: str | None, expected: bool) -> None:
    assert _is_loopback(addr) is expected


def test_non_loopback_client_is_refused(controlled: FakeWebex) -> None:
    from django_webexteams.testing.adapter import make_environ

    environ = make_environ("POST", controlled.url + "/_fake/fail-next",
                           {"Content-Type": "application/json"}, b'{"status": 500}')  # fmt: skip
    environ["REMOTE_ADDR"] = "203.0.113.9"
    statuses: list[str] = []
    body = b"".join(controlled.app(environ, lambda status, headers, *a: statuses.append(status)))
    assert statuses[0].startswith("403"), body
    assert controlled.faults.rules == []


def test_standalone_flag_turns_it_on() -> None:
    import io
    import json
    import socket
    import threading
    import time

    from django_webexteams.testing.__main__ import build_parser
    from django_webexteams.testing.runner import run

    assert build_parser().parse_args([]).control is False
    assert build_parser().parse_args(["--control"]).control is True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(
        target=run,
        kwargs={"port": port, "seed": "demo", "as_json": True, "stdout": out,
                "stop_event": stop, "control": True},
    )  # fmt: skip
    thread.start()
    try:
        for _ in range(100):
            if out.getvalue().endswith("}\n"):
                break
            time.sleep(0.05)
        info = json.loads(out.getvalue())
        assert info["control_url"] == f"http://127.0.0.1:{port}/_fake/"
        resp = requests.post(info["control_url"] + "fail-next", json={"status": 503}, timeout=5)
        assert resp.status_code == 200
    finally:
        stop.set()
        thread.join(timeout=10)


def test_websockets_lists_a_socket_only_once_it_is_authorised(controlled: FakeWebex) -> None:
    """The demo waits here for the listener: its "listening as" line comes before the socket
    is open, and an activity published before the fake authorised it reaches nobody."""
    import json

    from websockets.sync.client import connect

    from django_webexteams.client import WebexClient
    from django_webexteams.listener.devices import Devices

    bot = controlled.add_bot("Echo Bot")

    def listed() -> list[Any]:
        resp = requests.get(f"{controlled.url}/_fake/websockets", timeout=5)
        assert resp.status_code == 200, resp.text
        return [item["person_id"] for item in resp.json()["items"]]

    client = WebexClient(bot.token, base_url=controlled.base_url)
    device = Devices(client, f"{controlled.url}/wdm/api/v1", "test").create()
    assert listed() == []
    with connect(device["webSocketUrl"]) as ws:
        assert listed() == []  # open, not authorised yet: nothing would reach it
        ws.send(json.dumps({"id": "1", "type": "authorization",
                            "data": {"token": f"Bearer {bot.token}"}}))  # fmt: skip
        assert controlled.wait_for_ws_connections(1)
        assert listed() == [bot.id]
    assert controlled.wait_for_ws_connections(0)
    assert listed() == []
