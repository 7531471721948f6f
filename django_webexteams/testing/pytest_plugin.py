"""pytest plugin (entry point ``webexteams``): the ``fake_webex`` fixtures.

Loaded in every pytest run of any project that installs django-webexteams, so it imports
nothing heavy at module level and never needs Django: settings are touched only when Django
is installed and configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .fake import FakeWebex


@contextmanager
def _point_settings_at(fake: FakeWebex) -> Iterator[None]:
    """Override ``WEBEXTEAMS["API_BASE_URL"]`` for the duration, when Django is configured."""
    try:
        from django.conf import settings
    except ImportError:
        yield
        return
    if not settings.configured:
        yield
        return
    from django.test.utils import override_settings

    current = dict(getattr(settings, "WEBEXTEAMS", None) or {})
    with override_settings(WEBEXTEAMS={**current, "API_BASE_URL": fake.base_url}):
        yield


def _fail_on_fake_bugs(fake: FakeWebex) -> None:
    # A 500 caused by a bug in the fake must not pass silently as "the client handled a 5xx".
    if fake.unexpected_errors:
        errors = ", ".join(repr(e) for e in fake.unexpected_errors)
        fake.unexpected_errors.clear()
        pytest.fail(f"the fake Webex crashed while serving this test: {errors}", pytrace=False)


@pytest.fixture
def fake_webex() -> Iterator[Any]:
    """A running ``FakeWebex`` (fresh state per test). When Django settings are configured,
    ``WEBEXTEAMS["API_BASE_URL"]`` points at it during the test."""
    from .fake import FakeWebex

    with FakeWebex() as fake, _point_settings_at(fake):
        yield fake
        _fail_on_fake_bugs(fake)


@pytest.fixture(scope="session")
def fake_webex_server() -> Iterator[Any]:
    """One ``FakeWebex`` for the whole session (state accumulates; settings untouched)."""
    from .fake import FakeWebex

    with FakeWebex() as fake:
        yield fake
