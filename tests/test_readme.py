"""README samples that tests/test_docs.py cannot execute in-process, checked another way.

The Celery wiring block would create a second Celery app and make it the current one for the
rest of the test session; instead it must match testproject/celery.py line for line (with
``proj`` for ``testproject``), the file the suite's real workers and ``make demo`` run.
"""

from __future__ import annotations

import re
from pathlib import Path

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
