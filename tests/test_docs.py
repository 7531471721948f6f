"""Every code sample in README.md and docs/ runs, so the docs cannot rot.

- ```python blocks of one file run in order in one namespace, inside a Django test with a
  running fake Webex. The namespace starts with the names a reader would have at hand:
  ``room_id`` (a space the bot is in), ``person_email`` / ``person_id`` (a member of it),
  ``bot_token`` and ``fake`` (the FakeWebex). Settings point at the fake, Celery runs eagerly.
- ```sh / ```console blocks: every ``manage.py webexteams_*`` command they name exists, and every
  ``make <target>`` they name is a target of the Makefile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path: Path, languages: set[str]) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang in languages]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


PY_DOCS = [p for p in DOCS if blocks(p, {"python"})]
SH_DOCS = [p for p in DOCS if blocks(p, {"sh", "console", "bash", "shell"})]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", PY_DOCS, ids=_id)
def test_python_samples_run(path: Path, fake_webex: Any, settings: Any) -> None:
    from testproject.bot.receivers import bot as example_bot
    from testproject.celery import app

    # The test project's bot answers every message; the samples show their own bots.
    example_bot.disconnect()
    bot = fake_webex.add_bot("Docs Bot")
    person = fake_webex.add_person("reader@example.com", "Reader")
    room = fake_webex.create_room(person, "Docs space", members=[bot])
    settings.WEBEXTEAMS = {
        **settings.WEBEXTEAMS,
        "API_BASE_URL": fake_webex.base_url,
        "BOT_TOKEN": bot.token,
        "WEBHOOK_BASE_URL": "https://example.com",
    }
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    namespace: dict[str, Any] = {
        "__name__": f"docs_{path.stem}",
        "room_id": room.id,
        "person_email": person.email,
        "person_id": person.id,
        "bot_token": bot.token,
        "fake": fake_webex,
    }
    try:
        for number, code in enumerate(blocks(path, {"python"}), start=1):
            try:
                exec(compile(code, f"{_id(path)} block {number}", "exec"), namespace)
            except Exception as exc:
                pytest.fail(f"{_id(path)}, python block {number} failed: {exc!r}\n{code}")
    finally:
        app.conf.task_always_eager = eager
        example_bot.connect()
        # Bots the samples made stop answering now (their receivers are weak references,
        # but a bot's handlers can hold it in a cycle that only the GC breaks).
        from django_webexteams.bot import Bot

        for value in namespace.values():
            if isinstance(value, Bot):
                value.disconnect()
        # Receivers the samples connected (@receiver holds weak references) die with the
        # namespace now, instead of answering signals in later tests until the next GC.
        namespace.clear()


@pytest.mark.parametrize("path", SH_DOCS, ids=_id)
def test_shell_samples_name_real_commands(path: Path) -> None:
    text = "\n".join(blocks(path, {"sh", "console", "bash", "shell"}))
    commands = set(get_commands())
    for name in re.findall(r"manage\.py\s+(webexteams_\w+)", text):
        assert name in commands, f"{_id(path)} names unknown command {name}"
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    for target in re.findall(r"\bmake\s+([a-z][\w-]*)", text):
        assert target in targets, f"{_id(path)} names unknown make target {target}"
