"""Helpers for the fake Webex's own tests."""

from __future__ import annotations

from typing import Any

import pytest
import requests


class Api:
    """Plain ``requests`` against the fake as one person (real HTTP)."""

    def __init__(self, base_url: str, token: str, session: requests.Session | None = None):
        self.base_url = base_url
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base_url + path
        return self.session.request(method, url, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self("DELETE", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self("PATCH", path, **kw)


@pytest.fixture
def api(fake_webex: Any) -> Any:
    """``api(person)`` -> an Api acting as that person."""

    def make(person: Any) -> Api:
        return Api(fake_webex.base_url, person.token)

    return make


@pytest.fixture
def alice(fake_webex: Any) -> Any:
    return fake_webex.add_person("alice@example.com", "Alice Example")


@pytest.fixture
def bob(fake_webex: Any) -> Any:
    return fake_webex.add_person("bob@example.com", "Bob Example")


@pytest.fixture
def bot(fake_webex: Any) -> Any:
    return fake_webex.add_bot("Echo Bot")


@pytest.fixture
def admin(fake_webex: Any) -> Any:
    return fake_webex.add_admin("admin@example.com", "Ada Admin")


def assert_webex_error(resp: requests.Response, status: int) -> dict[str, Any]:
    """The response is a Webex error: status, JSON body shape, TrackingID header."""
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert set(body) >= {"message", "errors", "trackingId"}
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"] and all("description" in e for e in body["errors"])
    assert resp.headers["TrackingID"] == body["trackingId"]
    assert "Traceback" not in resp.text
    return body
