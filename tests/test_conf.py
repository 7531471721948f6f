"""conf.get(): defaults, and the unknown-key error, which must survive its per-object
memo (the receiver reads several settings per delivery)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_webexteams import conf


def test_a_default_is_returned_for_a_key_not_set(settings: Any) -> None:
    settings.WEBEXTEAMS = {
        k: v for k, v in settings.WEBEXTEAMS.items() if k != "WEBHOOK_CACHE_SECONDS"
    }
    assert conf.get("WEBHOOK_CACHE_SECONDS") == conf.DEFAULTS["WEBHOOK_CACHE_SECONDS"]


def test_a_key_that_is_not_a_setting_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        conf.get("NOT_A_SETTING")


def test_an_unknown_key_fails_after_earlier_reads_succeeded(settings: Any) -> None:
    assert conf.get("WEBHOOK_DISPATCH") in ("sync", "celery")  # memoised as valid now
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "BOT_TOKN": "typo"}
    with pytest.raises(ImproperlyConfigured, match="BOT_TOKN"):
        conf.get("WEBHOOK_DISPATCH")


def test_an_unknown_key_added_in_place_is_still_caught(settings: Any) -> None:
    settings.WEBEXTEAMS = dict(settings.WEBEXTEAMS)
    assert conf.get("WEBHOOK_DISPATCH")
    settings.WEBEXTEAMS["WEBHOOK_DISPACH"] = "celery"  # same object, one more key
    with pytest.raises(ImproperlyConfigured, match="WEBHOOK_DISPACH"):
        conf.get("WEBHOOK_DISPATCH")
    del settings.WEBEXTEAMS["WEBHOOK_DISPACH"]
    assert conf.get("WEBHOOK_DISPATCH")


def test_a_value_changed_by_override_is_read_at_once(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CACHE_SECONDS": 7}
    assert conf.get("WEBHOOK_CACHE_SECONDS") == 7
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CACHE_SECONDS": 0}
    assert conf.get("WEBHOOK_CACHE_SECONDS") == 0


def test_any_mapping_is_accepted_and_anything_else_refused(settings: Any) -> None:
    # A plain dict takes the fast path (type() before the ABC check); other mappings must
    # still work, and a non-mapping must still fail loudly.
    from types import MappingProxyType

    settings.WEBEXTEAMS = MappingProxyType({**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH": "sync"})
    assert conf.get("WEBHOOK_DISPATCH") == "sync"
    settings.WEBEXTEAMS = [("WEBHOOK_DISPATCH", "sync")]
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        conf.get("WEBHOOK_DISPATCH")
