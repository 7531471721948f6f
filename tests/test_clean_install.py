"""A newcomer's first hour, replayed on a clean machine (issue 15).

The wheel is built from the source tree, installed into a fresh virtualenv *without* any
extra (so nothing the project's own ``.venv`` holds can hide a missing dependency), a project
is made with ``django-admin startproject proj`` and configured with the README's "Adding it
to your project" blocks exactly as printed, then: ``webexteams_generate_key``, ``migrate``,
``check``, a real ``celery -A proj worker`` on Redis, and one ``send_message`` that the
worker delivers to the fake Webex. pip uses the package index (and its cache).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import redis_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.celery, pytest.mark.timeout(900)]

SECTION = re.compile(r"^## Adding it to your project\n(.*?)^## ", re.S | re.M)
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def readme_blocks() -> dict[str, str]:
    """The section's code blocks, named by what they are for (the label before each)."""
    section = SECTION.search((ROOT / "README.md").read_text())
    assert section, "README.md has no 'Adding it to your project' section"
    text = section.group(1)
    found: dict[str, str] = {}
    for match in FENCE.finditer(text):
        lang, body = match.groups()
        before = text[: match.start()].rstrip().split("\n\n")[-1]  # the paragraph before it
        if lang == "python" and "`settings.py`" in before:
            found["settings"] = body
        elif lang == "python" and "`urls.py`" in before:
            found["urls"] = body
        elif lang == "py" and "celery.py" in before:
            found["celery"] = body
        elif lang == "sh":
            found.setdefault("first_sh", body)
            found["last_sh"] = body
    missing = {"settings", "urls", "celery", "first_sh", "last_sh"} - set(found)
    assert not missing, f"README's section lacks the blocks {sorted(missing)}"
    return found


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run ``cmd``; on failure, fail the test with its output (one command, one line)."""
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a shell on a fresh machine: none of the suite's Python settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "DJANGO", "VIRTUAL_ENV", "WEBEX", "CELERY", "PYTEST"))
        and k not in {"DATABASE_URL", "CACHE_URL", "WEBEXTEAMS_EXTRA"}
    }
    env.update(extra)
    return env


def test_readme_names_the_commands_in_the_order_a_newcomer_types_them() -> None:
    blocks = readme_blocks()
    assert "pip install django-webexteams" in blocks["first_sh"]
    # webexteams_generate_key only exists once the app is in INSTALLED_APPS: after settings.
    assert "webexteams_generate_key" not in blocks["first_sh"]
    last = blocks["last_sh"]
    order = ["webexteams_generate_key", "migrate", "check", "celery -A proj worker"]
    positions = [last.find(word) for word in order]
    assert -1 not in positions and positions == sorted(positions), last
    settings = blocks["settings"]
    for needed in ("API_BASE_URL", "OAUTH_LOGIN_REDIRECT_URL", "WebexBackend"):
        assert needed in settings, f"README's settings block lacks {needed}"


def test_a_clean_install_follows_the_readme_to_a_delivered_message(
    tmp_path: Path, fake_webex: Any
) -> None:
    import redis

    blocks = readme_blocks()
    broker, cache = redis_url(9), redis_url(10)
    for url in (broker, cache):  # databases of this test's own: no task of an earlier run
        redis.Redis.from_url(url).flushdb()

    # 1. The wheel, built from a copy of what the sdist holds (the tree stays untouched).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "django_webexteams",
        src / "django_webexteams",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = tmp_path / "dist"
    env = clean_env()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)],
        cwd=tmp_path, env=env)  # fmt: skip
    (wheel,) = dist.glob("django_webexteams-*.whl")

    # 2. A fresh virtualenv, the wheel without extras.
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    bin_ = home / "bin"
    python = str(bin_ / "python")
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        cwd=tmp_path, env=env)  # fmt: skip
    run([python, "-m", "pip", "check"], cwd=tmp_path, env=env)

    # 3. startproject, then the README's blocks as printed.
    site = tmp_path / "site"
    site.mkdir()
    run([str(bin_ / "django-admin"), "startproject", "proj", str(site)], cwd=tmp_path, env=env)
    proj = site / "proj"
    with (proj / "settings.py").open("a") as settings_file:
        settings_file.write("\n# --- README: Adding it to your project ---\n" + blocks["settings"])
    (proj / "urls.py").write_text(blocks["urls"])
    (proj / "celery.py").write_text(blocks["celery"])
    (proj / "__init__.py").write_text("from .celery import app as celery_app\n")

    bot = fake_webex.add_bot("Clean Bot")
    alice = fake_webex.add_person("alice@example.com", "Alice")
    room = fake_webex.create_room(alice, "Clean space", members=[bot])
    env = clean_env(
        WEBEX_BOT_TOKEN=bot.token,
        WEBEX_API_BASE_URL=fake_webex.base_url,
        WEBHOOK_BASE_URL="https://bot.example.com",
        WEBEX_CLIENT_ID="C-clean-install",
        WEBEX_CLIENT_SECRET="clean-install-secret",
        CACHE_URL=cache,
        CELERY_BROKER_URL=broker,
    )
    manage = [python, "manage.py"]
    key = run([*manage, "webexteams_generate_key"], cwd=site, env=env).strip().splitlines()[-1]
    env["WEBEX_ENCRYPTION_KEYS"] = key
    run([*manage, "migrate", "-v", "0"], cwd=site, env=env)
    checked = run([*manage, "check"], cwd=site, env=env)
    assert "System check identified no issues" in checked, checked

    # 4. A real worker on Redis, and one message.
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [str(bin_ / "celery"), "-A", "proj", "worker", "-l", "INFO", "-c", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=site, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"ready." not in log_path.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        text = "Hello from a clean install"
        code = (
            "from django_webexteams.messaging import send_message; "
            f"print(send_message(room_id={room.id!r}, text={text!r}).pk)"
        )
        run([*manage, "shell", "-v", "0", "-c", code], cwd=site, env=env)
        deadline = time.monotonic() + 60
        while not any(m.get("text") == text for m in fake_webex.messages_in(room.id)):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the message never reached Webex:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        status = (
            "from django_webexteams.models import OutboundMessage as O; "
            "print(*O.objects.values_list('status', 'attempts', 'last_error'))"
        )
        deadline = time.monotonic() + 30
        while not (
            row := run([*manage, "shell", "-v", "0", "-c", status], cwd=site, env=env)
        ).startswith("('sent', 1, '')"):
            if time.monotonic() > deadline:
                pytest.fail(f"the outbox row was never marked sent: {row}")
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    posted = [m for m in fake_webex.messages_in(room.id) if m.get("text") == text]
    assert len(posted) == 1 and posted[0]["personId"] == bot.id
