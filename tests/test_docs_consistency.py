"""What tests/test_docs.py cannot execute in-process, checked another way.

- README's Celery wiring would create a second Celery app and make it the current one for the
  rest of the session; instead it must match testproject/celery.py line for line (with
  ``proj`` for ``testproject``), the file the suite's real workers and ``make demo`` run.
- The beat schedules name every periodic task; docs/settings.md lists every setting with the
  default that ``conf.DEFAULTS`` really has.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _code_lines(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#") and "__future__" not in line
    ]


def test_readme_celery_wiring_matches_the_test_project() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```py\n(.*?)^```", readme, re.S | re.M)
    [celery_block] = [b for b in blocks if "Celery(" in b]
    project = (ROOT / "testproject" / "celery.py").read_text().replace("testproject", "proj")
    project_lines = _code_lines(project)
    for line in _code_lines(celery_block):
        assert line in project_lines, f"README's Celery wiring has {line!r}, celery.py does not"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme and "DEMO_ONCE=1 make demo" in readme


PERIODIC_TASKS = {
    "webexteams.refresh_credentials",
    "webexteams.check_webhooks",
    "webexteams.prune_deliveries",
    "webexteams.requeue_stuck_messages",
}


@pytest.mark.django_db  # Celery's Django fixup runs the model checks, which may query SQLite
def test_beat_schedules_name_every_periodic_task(settings: Any) -> None:
    """docs/deployment.md and the test project schedule all four periodic tasks, by names
    that Celery knows."""
    from testproject.celery import app

    app.loader.import_default_modules()
    docs = (ROOT / "docs" / "deployment.md").read_text()
    in_docs = set(re.findall(r'"task": "(webexteams\.\w+)"', docs))
    in_project = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert in_docs == in_project == PERIODIC_TASKS
    assert PERIODIC_TASKS <= set(app.tasks)


def test_settings_md_lists_every_key_with_its_default() -> None:
    import ast

    from django_webexteams.conf import DEFAULTS

    doc = (ROOT / "docs" / "settings.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)`", doc, re.M))
    assert set(rows) == set(DEFAULTS)
    for key, default in DEFAULTS.items():
        documented = ast.literal_eval(rows[key])
        if isinstance(default, tuple | list):
            assert tuple(documented) == tuple(default), key
        else:
            assert documented == default, key


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_point_at_files_and_headings() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.exists(), f"{page.name} links to missing {target}"
            if anchor and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", dest.read_text(), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: {target}"
