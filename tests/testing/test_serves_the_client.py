"""The fake serves every operation the client covers (client/_operations.py: OPERATIONS and
EXTRA), so a client method can't be added without the fake learning it too: the fake once
lacked ``DELETE /organizations/{orgId}`` and ``PATCH /licenses/users``."""

from __future__ import annotations

import re

import pytest

from django_webexteams.client._operations import EXTRA, OPERATIONS
from django_webexteams.testing.routes import router


def _client_operations() -> list[tuple[str, str, str]]:
    ops = [(op.method, op.path, op.client_method) for op in OPERATIONS]
    ops += [(method, path, name) for method, path, name, _where in EXTRA]
    return ops


def _served(method: str, path: str) -> bool:
    # A concrete path, as the client would send it, goes through the fake's own router.
    concrete = re.sub(r"\{\w+\}", "Y2lzY29zcGFyazovL3VzL1NBTVBMRS9pZA", path)
    route, _params, _exists = router.match(method, concrete)
    # A literal route must not be answered by a {id} route of the same method (e.g.
    # PATCH /licenses/users by a GET /licenses/{id}): method and shape must both match.
    return route is not None and (route.method == method or method == "HEAD")


def test_the_client_table_is_not_empty() -> None:
    # The test below must not pass vacuously.
    assert len(_client_operations()) >= 55


@pytest.mark.parametrize(
    ("method", "path", "client_method"),
    _client_operations(),
    ids=[f"{m} {p} ({c})" for m, p, c in _client_operations()],
)
def test_fake_serves_what_the_client_covers(method: str, path: str, client_method: str) -> None:
    assert _served(method, path), f"the fake has no route for {method} {path} ({client_method})"


def test_an_unserved_operation_is_noticed() -> None:
    # The check can fail: an operation the fake does not have.
    assert not _served("PATCH", "/rooms/{roomId}")
    assert not _served("GET", "/room/linkedFolders")
