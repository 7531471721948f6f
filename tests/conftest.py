"""Suite-wide fixtures and policy.

- The network guard (tests/network_guard.py): no test reaches a host other than loopback.
- Requirement markers: ``redis``, ``postgres``, ``celery``, ``browser`` tests run when the
  service is there and are skipped with a one-line reason otherwise; the reasons are listed at
  the end of the run. With ``CI=true`` a skip fails the run (CI must run everything).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests import network_guard
from tests.network_guard import NetworkGuardError

pytest_plugins = ["tests.celery_workers", "tests.browser"]

__all__ = ["NetworkGuardError", "chromium_path", "in_ci", "redis_url"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def redis_url(db: int = 15) -> str:
    """A Redis URL for tests (REDIS_URL's host/port, database ``db``)."""
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    if base.count("/") > 2:
        base = base.rsplit("/", 1)[0]
    return f"{base}/{db}"


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _redis_available() -> bool:
    return _port_open("127.0.0.1", 6379)


def _postgres_in_use() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def pytest_configure(config: pytest.Config) -> None:
    network_guard.install()


def pytest_runtest_setup(item: pytest.Item) -> None:
    names = {m.name for m in item.iter_markers()}
    if names & {"redis", "celery"} and not _redis_available():
        pytest.skip("needs Redis on 127.0.0.1:6379 (start redis-server)")
    if names & {"postgres", "celery"} and not _postgres_in_use():
        pytest.skip(
            "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test "
            "(make test does this when PostgreSQL answers)"
        )
    if "browser" in names and not chromium_path():
        pytest.skip("needs Chromium (apt-get install chromium)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not in_ci() or os.environ.get("WEBEXTEAMS_ALLOW_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if reporter is not None and skipped and session.exitstatus == 0:
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) were skipped; CI must run everything "
            "(see the skip reasons above).",
            red=True,
        )
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _fresh_local_caches() -> Iterator[None]:
    """Each test starts with empty in-process caches, so state kept there (the rate-limit gate,
    cached bot identities) cannot leak from one test into the next."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    yield
    for cache in caches.all(initialized_only=True):
        if isinstance(cache, LocMemCache):
            cache.clear()


@pytest.fixture(autouse=True)
def _outcome_writer_stopped() -> Iterator[None]:
    """Webhook outcomes batched during a test (live server, autocommit) are written before
    the next test, and the writer thread's database connection is closed, so nothing
    crosses test boundaries or holds the test database open at the end of the run."""
    yield
    from django_webexteams.webhooks import outcomes, publish

    outcomes.shutdown()
    publish.shutdown()  # deliveries still to be enqueued (Celery mode) go before the next test


@pytest.fixture(autouse=True)
def _no_real_webex(settings: Any) -> Iterator[None]:
    """Nothing may default to the real Webex: the API base points at a closed port unless a
    test points it at the fake Webex (the ``fake_webex`` fixture does)."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "API_BASE_URL": "http://127.0.0.1:9/v1"}
    yield
