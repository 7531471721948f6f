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


CRASHING_TEST = """
import requests
from django_webexteams.testing.routes import router


def test_crash(fake_webex):
    route = next(r for r in router.routes if r.pattern == "/people/me")
    original = route.handler
    route.handler = lambda ctx: 1 / 0
    try:
        p = fake_webex.add_person("x@example.com")
        r = requests.get(fake_webex.base_url + "/people/me",
                         headers={"Authorization": "Bearer " + p.token}, timeout=5)
        assert r.status_code == 500
    finally:
        route.handler = original
"""


def test_fixture_fails_a_test_when_the_fake_crashed(tmp_path: Any) -> None:
    # A separate pytest run (the plugin loads through its entry point, without Django).
    (tmp_path / "test_crash.py").write_text(CRASHING_TEST)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_crash.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "the fake Webex crashed while serving this test" in result.stdout


def test_plugin_import_is_cheap() -> None:
    # Loaded in every pytest run of every project that installs us: it must not pull in the
    # fake (HTTP server, urllib, email parser) or Django just by being imported.
    code = (
        "import sys\n"
        "import django_webexteams.testing.pytest_plugin\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('django_webexteams'))\n"
        "assert loaded == ['django_webexteams', 'django_webexteams.testing',\n"
        "                  'django_webexteams.testing.pytest_plugin'], loaded\n"
        "assert 'django' not in sys.modules and 'requests' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_session_server_reset(fake_webex_server: Any) -> None:
    import requests

    p = fake_webex_server.add_person("before-reset@example.com")
    port = fake_webex_server.port
    fake_webex_server.fail_next(500, times=3)
    fake_webex_server.reset()
    headers = {"Authorization": f"Bearer {p.token}"}
    url = fake_webex_server.base_url + "/people/me"
    assert requests.get(url, headers=headers, timeout=5).status_code == 401  # forgotten
    q = fake_webex_server.add_person("after-reset@example.com")
    resp = requests.get(url, headers={"Authorization": f"Bearer {q.token}"}, timeout=5)
    assert resp.status_code == 200 and fake_webex_server.port == port
    assert fake_webex_server.count("GET", "/people/me") == 2
