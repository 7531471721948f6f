"""The pytest plugin: fixtures, Django settings override, cheap import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from django.conf import settings


def test_fixture_points_settings_at_the_fake(fake_webex: Any) -> None:
    assert settings.WEBEXTEAMS["API_BASE_URL"] == fake_webex.base_url
    # Other keys survive the override.
    assert "ENCRYPTION_KEYS" in settings.WEBEXTEAMS


def test_settings_restored_after_the_fixture(settings: Any) -> None:
    # conftest points the API at a closed port for tests that do not use the fake.
    assert settings.WEBEXTEAMS["API_BASE_URL"] == "http://127.0.0.1:9/v1"


def test_session_server(fake_webex_server: Any) -> None:
    p = fake_webex_server.add_person("session@example.com")
    assert p.token and fake_webex_server.base_url.startswith("http://127.0.0.1:")


def test_plugin_and_fake_import_without_django() -> None:
    code = (
        "import sys\n"
        "import django_webexteams.testing.pytest_plugin\n"
        "from django_webexteams.testing import FakeWebex\n"
        "with FakeWebex() as f:\n"
        "    p = f.add_person('x@example.com')\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django.' in m)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
