"""Reconciliation that cannot look right now (a 5xx, a 429 on its GETs) looks again later
instead of posting: posting could duplicate a message Webex already stored."""

from __future__ import annotations

from typing import Any

import pytest

from django_webexteams import messaging
from django_webexteams.clients import rate_limit_key
from django_webexteams.messaging import ratelimit
from tests.messaging.test_deliver import direct_texts, drop_after_store, posts, queue

pytestmark = pytest.mark.django_db


def test_a_failing_lookup_is_retried_not_posted(webex: Any) -> None:
    drop_after_store(webex)
    row = queue(to_person_email=webex.alice.email, text="stored, answer lost")
    first = messaging.deliver(row.pk)
    assert first.outcome == "retry" and "reconcile_since" in first.retry_kwargs
    # The lookup's first GET fails (past the client's own 3 retries of an idempotent GET):
    # no POST, the row waits, still to reconcile.
    webex.fake.fail_next(503, times=4, method="GET", path="/people/me")
    second = messaging.deliver(row.pk, **first.retry_kwargs)
    assert second.outcome == "retry"
    assert second.retry_kwargs["reconcile_since"] == first.retry_kwargs["reconcile_since"]
    assert second.retry_kwargs["failures"] == first.retry_kwargs["failures"] + 1
    assert posts(webex) == 1
    row.refresh_from_db()
    assert row.status == "queued" and "503" in row.last_error
    # Next time the lookup works and finds it: sent, never posted twice.
    third = messaging.deliver(row.pk, **second.retry_kwargs)
    assert third.outcome == "sent" and third.reconciled
    assert direct_texts(webex) == ["stored, answer lost"] and posts(webex) == 1


def test_a_rate_limited_lookup_waits_for_retry_after(webex: Any) -> None:
    drop_after_store(webex)
    row = queue(to_person_email=webex.alice.email, text="limited lookup")
    first = messaging.deliver(row.pk)
    webex.fake.fail_next(429, retry_after=7, method="GET", path="/messages")
    second = messaging.deliver(row.pk, **first.retry_kwargs)
    assert second.outcome == "retry" and 7 <= (second.countdown or 0) <= 7 + 1.75
    # A wait, not a failure; the gate is closed for everyone.
    assert second.retry_kwargs["failures"] == first.retry_kwargs["failures"]
    assert ratelimit.blocked_for(rate_limit_key(None)) > 6
    assert posts(webex) == 1
    ratelimit.unblock(rate_limit_key(None))
    third = messaging.deliver(row.pk, **second.retry_kwargs)
    assert third.outcome == "sent" and third.reconciled and posts(webex) == 1


def test_a_lookup_webex_refuses_still_posts(webex: Any) -> None:
    """403/404 mean we may not look (a bot in a group space): at-least-once, as before."""
    drop_after_store(webex)
    row = queue(to_person_email=webex.alice.email, text="cannot look")
    first = messaging.deliver(row.pk)
    webex.fake.fail_next(403, method="GET", path="/people/me")
    second = messaging.deliver(row.pk, **first.retry_kwargs)
    assert second.outcome == "sent" and not second.reconciled
    assert posts(webex) == 2
