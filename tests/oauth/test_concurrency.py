"""Two workers, one expired credential: the refresh token is spent once (PostgreSQL row lock).

Run with ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/<name>``; skipped on SQLite, which
has no row locks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from django_webexteams import signals, tokens
from django_webexteams.models import Credential
from tests.oauth.conftest import OAuthEnv

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_threads(count: int, target: Callable[[], Any]) -> list[Any]:
    """Run ``target`` in ``count`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = target()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.fixture
def signal_log() -> Any:
    log: list[tuple[str, int]] = []
    lock = threading.Lock()

    def on_refreshed(sender: Any, credential: Any, **kw: Any) -> None:
        with lock:
            log.append(("refreshed", credential.pk))

    def on_revoked(sender: Any, credential: Any, **kw: Any) -> None:
        with lock:
            log.append(("revoked", credential.pk))

    signals.credential_refreshed.connect(on_refreshed)
    signals.credential_revoked.connect(on_revoked)
    yield log
    signals.credential_refreshed.disconnect(on_refreshed)
    signals.credential_revoked.disconnect(on_revoked)


def test_two_threads_one_refresh(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], signal_log: Any
) -> None:
    assert connection.vendor == "postgresql"
    credential = make_user_credential(expired=True)
    old_token = credential.access_token
    before = oauth_env.token_requests()
    # Slow token endpoint: the first thread holds the row lock long enough for the second to
    # arrive and wait on it (the outcome asserted below does not depend on the timing).
    oauth_env.fake.set_latency(0.5, path="/access_token")

    def worker() -> str:
        # Each thread loads its own instance, as a separate worker process would.
        return tokens.get_valid_access_token(Credential.objects.get(pk=credential.pk))

    results = run_in_threads(2, worker)

    assert all(isinstance(r, str) for r in results), results
    assert results[0] == results[1] != old_token
    assert oauth_env.token_requests() == before + 1  # ONE refresh at the token endpoint
    row = Credential.objects.get(pk=credential.pk)
    assert row.access_token == results[0]
    assert signal_log == [("refreshed", credential.pk)]
    # The rotated refresh token that was stored is the live one: it refreshes again fine.
    assert tokens.refresh_credential(row, force=True) == "refreshed"


def test_two_threads_revoked_refresh_token(
    oauth_env: OAuthEnv, make_user_credential: Callable[..., Any], signal_log: Any
) -> None:
    credential = make_user_credential(expired=True)
    oauth_env.fake.revoke_tokens(oauth_env.fake.person(credential.webex_person_id))
    before = oauth_env.token_requests()
    oauth_env.fake.set_latency(0.5, path="/access_token")

    def worker() -> str:
        return tokens.get_valid_access_token(Credential.objects.get(pk=credential.pk))

    results = run_in_threads(2, worker)

    assert all(isinstance(r, tokens.CredentialInactiveError) for r in results), results
    assert oauth_env.token_requests() == before + 1
    row = Credential.objects.get(pk=credential.pk)
    assert row.is_active is False and "invalid_grant" in row.last_error
    assert signal_log == [("revoked", credential.pk)]
