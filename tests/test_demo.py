"""``make demo``: the story runs end to end (``DEMO_ONCE=1``), failures name their step, a busy
port gets a clear message, and nothing is left running afterwards.

The full runs start the real children (fake Webex, runserver, Celery worker) on free ports and
a var/ directory of their own, so they never collide with a demo a developer is running.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testproject.demo import config as demo_config
from testproject.demo.main import run_story
from testproject.demo.story import STEPS, StepFailed, Story

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DEMO_ONCE": "1",
        "DEMO_WEB_PORT": str(_free_port()),
        "DEMO_FAKE_PORT": str(_free_port()),
        "DEMO_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
        # The demo and its worker refuse non-loopback connections, as the suite does.
        "WEBEXTEAMS_TEST_NETWORK_GUARD": "1",
        **extra,
    }
    for name in ("CELERY_BROKER_URL", "CACHE_URL", "DATABASE_URL", "WEBEXTEAMS_EXTRA"):
        env.pop(name, None)
    return env


def _run_demo(env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testproject.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _leftovers(env: dict[str, str]) -> list[str]:
    """Processes of this demo still running (matched by their unique ports)."""
    marks = (f"--port {env['DEMO_FAKE_PORT']} ", f"127.0.0.1:{env['DEMO_WEB_PORT']} ",
             f"demo-{env['DEMO_WEB_PORT']}@",
             f"127.0.0.1:{env['DEMO_FAKE_PORT']}/u2c/")  # fmt: skip
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if any(m in line + " " for m in marks)]


def _assert_story_passed(result: subprocess.CompletedProcess[str], env: dict[str, str]) -> None:
    out = result.stdout
    assert result.returncode == 0, f"{out}\n{result.stderr[-3000:]}"
    for number, (title, _) in enumerate(STEPS, start=1):
        assert f"{number:>2}. {title}" in out
    assert out.count("\u2713") >= len(STEPS) and "\u2717" not in out
    assert f"All {len(STEPS)} steps passed." in out
    assert re.search(r"staff user: demo / \S+", out)
    assert "Traceback" not in out + result.stderr
    # Stopped together: no child left, both ports free again.
    assert _leftovers(env) == []
    assert not demo_config.port_in_use(int(env["DEMO_WEB_PORT"]))
    assert not demo_config.port_in_use(int(env["DEMO_FAKE_PORT"]))


@pytest.mark.slow
def test_demo_once_without_redis(tmp_path: Path) -> None:
    """What a fresh machine gets: kombu's filesystem broker and a file cache under var/."""
    env = _demo_env(tmp_path, DEMO_NO_REDIS="1")
    result = _run_demo(env)
    _assert_story_passed(result, env)
    assert "kombu filesystem transport" in result.stdout
    assert "429 Too Many Requests, Retry-After: 2" in result.stdout
    assert (tmp_path / "var" / "demo.sqlite3").exists()


@pytest.mark.slow
@pytest.mark.redis
def test_demo_twice_with_redis(tmp_path: Path) -> None:
    """What a newcomer does: ``DEMO_ONCE=1 make demo`` twice, same ports, Redis up (its cache
    warm from the first run, the fake restarted with new ids for the same tokens). Issue 15:
    the second run used to make the bot answer itself thousands of times while the demo
    passed; now both runs pass and the bot posts the same messages each time."""
    env = _demo_env(tmp_path)
    posted = []
    for _run in range(2):
        result = _run_demo(env)
        _assert_story_passed(result, env)
        assert "broker    Redis at redis://127.0.0.1:6379/0" in result.stdout
        found = re.search(r"(\d+) messages posted by the bot, one per outbox row", result.stdout)
        assert found, result.stdout[-2000:]
        posted.append(int(found.group(1)))
    assert posted[0] == posted[1] > 0


@pytest.mark.slow
@pytest.mark.redis
def test_demo_over_the_websocket_twice(tmp_path: Path) -> None:
    """``DEMO_TRANSPORT=websocket make demo``: the whole story with no webhook, events over
    the listener's socket; twice, so the device and the warm cache are reused (issue 18)."""
    env = _demo_env(tmp_path, DEMO_TRANSPORT="websocket")
    for _run in range(2):
        result = _run_demo(env)
        _assert_story_passed(result, env)
        out = result.stdout
        assert "websocket listener connected" in out
        assert "(transport websocket)" in out
        assert "came back over the socket: skipped" in out
        assert "socket cardAction attachmentActions:created" in out
        assert "POST http" not in out  # no webhook delivery in this story
        listener_out = (tmp_path / "var" / "demo" / "logs" / "listener.out").read_text()
        assert "webexteams_listen: stopped; frames=" in listener_out
        assert re.search(r"stored=[1-9]", listener_out)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_busy_port_is_a_clear_message_before_anything_starts(
    tmp_path: Path, busy_port: int
) -> None:
    env = _demo_env(tmp_path, DEMO_WEB_PORT=str(busy_port))
    result = _run_demo(env, timeout=60)
    assert result.returncode == 2
    assert f"port {busy_port} on 127.0.0.1 (for the test project) is already in use" in (
        result.stdout
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "var").exists()  # nothing was started or written


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("DEMO_WEB_PORT", "http", "is not a port number"),
     ("DEMO_FAKE_PORT", "70000", "is not a port number")],
)  # fmt: skip
def test_bad_port_settings(monkeypatch: Any, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(demo_config.DemoError, match=message):
        demo_config.from_env()


def test_same_ports_refused(monkeypatch: Any) -> None:
    monkeypatch.setenv("DEMO_WEB_PORT", "8123")
    monkeypatch.setenv("DEMO_FAKE_PORT", "8123")
    with pytest.raises(demo_config.DemoError, match="must differ"):
        demo_config.from_env()


def test_broker_choice(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("DEMO_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("CACHE_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    monkeypatch.setattr(demo_config, "redis_answers", lambda *a: False)
    cfg = demo_config.from_env()
    assert cfg.broker_kind == "filesystem" and cfg.broker_url == "filesystem://"
    folder = str(tmp_path / "demo" / "broker" / "queue")
    assert cfg.transport_options["data_folder_in"] == cfg.transport_options["data_folder_out"]
    assert cfg.transport_options["data_folder_in"] == folder
    assert cfg.cache_url == f"filecache://{tmp_path / 'demo' / 'cache'}"

    monkeypatch.setattr(demo_config, "redis_answers", lambda *a: True)
    cfg = demo_config.from_env()
    assert (cfg.broker_kind, cfg.broker_url) == ("redis", "redis://127.0.0.1:6379/0")
    assert cfg.cache_url == cfg.broker_url

    monkeypatch.setenv("DEMO_NO_REDIS", "1")
    assert demo_config.from_env().broker_kind == "filesystem"

    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@127.0.0.1//")
    cfg = demo_config.from_env()
    assert (cfg.broker_kind, cfg.broker_url) == ("given", "amqp://guest@127.0.0.1//")
    assert cfg.cache_url.startswith("filecache://")  # not Redis: the gate goes to a file cache


def test_children_are_configured_through_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DEMO_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DEMO_WEB_PORT", "8123")
    monkeypatch.setenv("DEMO_FAKE_PORT", "8923")
    env = demo_config.from_env().child_env(bot_token="t", client_id="c", client_secret="s")
    assert env["WEBEX_API_BASE_URL"] == "http://127.0.0.1:8923/v1"
    assert env["WEBHOOK_BASE_URL"] == "http://127.0.0.1:8123"
    assert env["WEBEX_BOT_TOKEN"] == "t"
    assert (env["WEBEX_CLIENT_ID"], env["WEBEX_CLIENT_SECRET"]) == ("c", "s")
    assert env["DATABASE_URL"].startswith(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    assert env["CELERY_TASK_DEFAULT_QUEUE"] == env["CACHE_KEY_PREFIX"] == "webexteams-demo-8123"


def test_a_failing_step_is_named_and_stops_the_story(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    calls: list[str] = []

    def ok(story: Story) -> list[str]:
        calls.append("ok")
        return ["fine"]

    def broken(story: Story) -> list[str]:
        calls.append("broken")
        raise StepFailed("the reply never came")

    def crashing(story: Story) -> list[str]:
        raise KeyError("boom")

    story = Story("http://w", "http://f", {}, lambda: None)
    monkeypatch.setattr("testproject.demo.main.STEPS", [("first", ok), ("second", broken),
                                                        ("third", ok)])  # fmt: skip
    assert run_story(story) == (2, "second")
    out = capsys.readouterr().out
    assert " 1. first\n    \u2713 fine" in out
    assert " 2. second\n    \u2717 the reply never came" in out
    assert "third" not in out and calls == ["ok", "broken"]

    monkeypatch.setattr("testproject.demo.main.STEPS", [("only", crashing)])
    assert run_story(story) == (1, "only")
    assert "\u2717 KeyError: 'boom'" in capsys.readouterr().out


def test_make_demo_runs_the_demo_module() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo: venv\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None and "-m testproject.demo" in recipe.group(1)
