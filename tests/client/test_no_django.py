"""django_webexteams.client must work without Django (it is usable on its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
sys.modules["django"] = None  # any "import django..." now raises ImportError
import django_webexteams.client as c
from django_webexteams.client import oauth, docgen, markdown, signature  # noqa
assert not any(m == "django" or m.startswith("django.") for m in sys.modules
               if sys.modules[m] is not None), "django was imported"
client = c.WebexClient("t")
print("ok", type(client).__name__)
"""


def test_client_imports_without_django() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok WebexClient"


def test_no_django_import_in_the_source() -> None:
    for path in (REPO / "django_webexteams" / "client").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("import django", "from django ", "from django.")), (
                f"{path.name}: {stripped}"
            )
