"""Fixtures for the client tests: a client pointed at a base URL, with a retry policy whose
sleeps are recorded instead of slept, and shapes taken from the official OpenAPI examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from django_webexteams.client import RetryPolicy, WebexClient

TOKEN = "SECRET-TOKEN-abc123-do-not-leak"
BASE_URL = "https://webexapis.com/v1"


class Sleeps(list[float]):
    """Records the delays a policy asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, random=lambda: 1.0)


@pytest.fixture
def base_url() -> str:
    return BASE_URL


@pytest.fixture
def client(base_url: str, policy: RetryPolicy) -> Iterator[WebexClient]:
    c = WebexClient(TOKEN, base_url=base_url, retry=policy)
    yield c
    c.close()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def body_of(call: Any) -> Any:
    raw = call.request.body
    if isinstance(raw, bytes):
        raw = raw.decode()
    return json.loads(raw)
