"""The standalone server: ``python -m django_webexteams.testing`` and the management command
print the seeded people's tokens and serve them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from django_webexteams.testing.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "testproject.settings"}
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    return proc, []


def _read_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    text = ""
    for line in proc.stdout:
        text += line
        try:
            data: dict[str, Any] = json.loads(text)
            return data
        except ValueError:
            continue
    raise AssertionError(f"no JSON; stderr: {proc.stderr.read() if proc.stderr else ''}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "django_webexteams.testing"],
        ["-m", "django", "webexteams_fake_server"],
    ],
    ids=["python -m", "manage.py"],
)
def test_standalone_server_with_demo_seed(command: Any) -> None:
    port = _free_port()
    proc, _ = _start([*command, "--port", str(port), "--seed", "demo", "--json"])
    try:
        info = _read_json(proc)
        assert info["base_url"] == f"http://127.0.0.1:{port}/v1"
        people = info["people"]
        assert set(people) == {"alice", "bob", "admin", "bot"}
        me = requests.get(
            info["base_url"] + "/people/me",
            headers={"Authorization": f"Bearer {people['bot']['token']}"},
            timeout=5,
        ).json()
        assert me["type"] == "bot" and me["id"] == people["bot"]["id"]
        rooms = requests.get(
            info["base_url"] + "/rooms",
            headers={"Authorization": f"Bearer {people['alice']['token']}"},
            timeout=5,
        ).json()["items"]
        assert "Demo space" in {r["title"] for r in rooms}
        assert info["oauth"]["client_id"]
    finally:
        _stop(proc)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_text_output_lists_tokens() -> None:
    port, ws_port = _free_port(), _free_port()
    proc, _ = _start(["-m", "django_webexteams.testing", "--port", str(port), "--seed", "demo",
                      "--ws-port", str(ws_port)])  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        out = "".join(lines)
        assert f"http://127.0.0.1:{port}/v1" in out
        assert "alice@example.com" in out and "token: FAKE_ALICE_" in out
        # --ws-port: the websocket server listens where it was told, and says so.
        assert f"websockets on ws://127.0.0.1:{ws_port} " in out
        socket.create_connection(("127.0.0.1", ws_port), timeout=5).close()
    finally:
        _stop(proc)


def test_parser_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.ws_port, args.seed) == ("127.0.0.1", 8900, 0, None)


def test_fake_server_on_a_busy_port_says_so_in_one_line() -> None:
    """Issue 15: a second webexteams_fake_server (or one next to make demo) printed a
    traceback. It is one line now, naming the port and what to do."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc, _ = _start(["-m", "django", "webexteams_fake_server", "--port", str(port)])
        try:
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                _stop(proc)
    assert proc.returncode == 1
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [
        f"CommandError: Port {port} on 127.0.0.1 is already in use (another fake Webex, or "
        f"make demo?). Stop it, or pick another port: --port {port + 1}"
    ], stderr
