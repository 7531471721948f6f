"""Real Chromium for page tests: Debian's chromium driven through Playwright's
``executable_path`` (Playwright's own browser download does not work offline).

Screenshots go to ``test-artifacts/`` at the repository root (gitignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.conftest import chromium_path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# Headless flags for a root user on a machine with no network: without the
# background-networking ones, Chromium keeps trying (and failing) to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium (1280x900)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; Django would then
    # refuse the ORM calls the test makes between page actions. The live server runs in its
    # own thread, so nothing here is actually asynchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps this thread's connections in a
            # context-local slot that pytest-django's teardown does not see: close them here,
            # or PostgreSQL refuses to drop the test database at the end of the run.
            connections.close_all()
