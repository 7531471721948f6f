"""Session, pooling, timeouts, User-Agent, proxies/verify, headers; the same calls over real
HTTP on loopback (base URL parametrised)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter

from django_webexteams import __version__
from django_webexteams.client import (
    MalformedResponseError,
    NotFoundError,
    RetryPolicy,
    TransportError,
    WebexClient,
)
from django_webexteams.client.transport import POOL_SIZE, build_session

from .conftest import BASE_URL, TOKEN
from .local_server import LocalServer, local_server


class SpySession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.seen.append({"method": request.method, "url": request.url, **kwargs})
        return super().send(request, **kwargs)


def test_one_pooled_session() -> None:
    client = WebexClient(TOKEN)
    adapter = client.session.get_adapter("https://webexapis.com/v1/rooms")
    assert isinstance(adapter, HTTPAdapter)
    assert adapter._pool_maxsize == POOL_SIZE  # type: ignore[attr-defined]
    assert adapter.max_retries.total == 0  # retries are the policy's job
    assert client.session is client.rooms._transport.session is client.messages._transport.session
    assert "Authorization" not in client.session.headers  # per request, never session-wide


@pytest.mark.parametrize(
    ("timeout", "expected"), [(None, (10.0, 60.0)), (5, (5.0, 5.0)), ((2, 30), (2.0, 30.0))]
)
def test_timeouts_on_every_call(
    timeout: Any, expected: tuple[float, float], rsps: responses.RequestsMock, tmp_path: Any
) -> None:
    session = SpySession()
    client = WebexClient(TOKEN, timeout=timeout, session=session)
    assert client.timeout == expected
    rsps.get(f"{BASE_URL}/rooms", json={"items": []})
    rsps.post(f"{BASE_URL}/messages", json={"id": "M"})
    rsps.head(f"{BASE_URL}/contents/C", headers={"Content-Length": "1"})
    rsps.get(f"{BASE_URL}/contents/C", body=b"x")
    rsps.delete(f"{BASE_URL}/rooms/R", status=204)
    list(client.rooms.list())
    client.messages.create(room_id="R", text="x")
    client.messages.create(room_id="R", files=[b"x"])
    client.contents.info("C")
    client.contents.download("C", tmp_path / "f")
    client.rooms.delete("R")
    assert len(session.seen) == 6
    assert all(call["timeout"] == expected for call in session.seen)
    assert all(call["allow_redirects"] is False for call in session.seen)


def test_proxy_environment_is_honoured_and_read_once_per_origin(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests re-reads the proxy variables on every Session.request; the transport merges
    # them once per origin (docs/client.md) and must still honour them.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    session = SpySession()
    client = WebexClient(TOKEN, session=session)
    rsps.get(f"{BASE_URL}/rooms", json={"items": []})
    list(client.rooms.list())
    monkeypatch.setenv("HTTPS_PROXY", "http://other.invalid:3128")
    list(client.rooms.list())
    assert [call["proxies"].get("https") for call in session.seen] == [
        "http://proxy.invalid:3128",
        "http://proxy.invalid:3128",
    ]
    # An explicit proxies= argument wins over the environment.
    explicit = WebexClient(TOKEN, session=SpySession(), proxies={"https": "http://mine.invalid:1"})
    list(explicit.rooms.list())
    assert explicit.session.seen[0]["proxies"]["https"] == "http://mine.invalid:1"  # type: ignore[attr-defined]


def test_headers(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{BASE_URL}/rooms", json={"id": "R"})
    client.rooms.create("t")
    headers = rsps.calls[0].request.headers
    assert headers["User-Agent"] == f"django-webexteams/{__version__}"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(rsps.calls[0].request.body or b"") == {"title": "t"}


def test_custom_user_agent_proxies_verify(rsps: responses.RequestsMock) -> None:
    session = SpySession()
    client = WebexClient(
        TOKEN,
        session=session,
        user_agent="my-bot/1.0",
        proxies={"https": "http://proxy.local:3128"},
        verify="/etc/ca.pem",
    )
    rsps.get(f"{BASE_URL}/people/me", json={"id": "P"})
    client.people.me()
    assert rsps.calls[0].request.headers["User-Agent"] == "my-bot/1.0"
    assert session.seen[0]["proxies"] == {"https": "http://proxy.local:3128"}
    assert session.seen[0]["verify"] == "/etc/ca.pem"


def test_build_session_options() -> None:
    session = build_session(pool_size=5, proxies={"https": "http://p:1"}, verify=False)
    assert session.proxies == {"https": "http://p:1"} and session.verify is False
    assert session.get_adapter("http://x")._pool_maxsize == 5  # type: ignore[attr-defined]


def test_close_closes_only_its_own_session(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[requests.Session] = []
    monkeypatch.setattr(requests.Session, "close", lambda self: closed.append(self))
    with WebexClient(TOKEN) as client:
        own = client.session
    assert closed == [own]
    mine = requests.Session()
    with WebexClient(TOKEN, session=mine):
        pass
    assert closed == [own]


def test_passthrough_request_for_unwrapped_endpoints(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{BASE_URL}/adminAudit/eventCategories",
        json={"eventCategories": ["x"]},
        headers={"TrackingID": "ROUTER_T"},
    )
    result = client.transport.request("GET", "/adminAudit/eventCategories")
    assert result.data == {"eventCategories": ["x"]} and result.tracking_id == "ROUTER_T"


# -- real HTTP on loopback ------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


def test_real_http_round_trip_and_pagination(server: LocalServer) -> None:
    server.add(
        "GET",
        "/v1/rooms",
        200,
        {
            "Link": f'<{server.base_url}/rooms?cursor=2&max=null>; rel="next"',
            "TrackingID": "ROUTER_A",
        },
        json.dumps({"items": [{"id": "R1"}]}).encode(),
    )
    server.add(
        "GET",
        "/v1/rooms",
        200,
        {"TrackingID": "ROUTER_B"},
        json.dumps({"items": [{"id": "R2"}]}).encode(),
    )
    client = WebexClient(TOKEN, base_url=server.base_url)
    assert [r.id for r in client.rooms.list(type="group", max=1)] == ["R1", "R2"]
    second = server.requests[1]["path"]
    assert "cursor=2" in second and "max=1" in second and "type=group" in second
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_real_connection_refused_is_a_transport_error_and_retried() -> None:
    sleeps: list[float] = []
    client = WebexClient(
        TOKEN,
        base_url="http://127.0.0.1:9/v1",
        retry=RetryPolicy(max_retries=2, sleep=sleeps.append),
    )
    with pytest.raises(TransportError) as info:
        client.people.me()
    assert not info.value.is_timeout
    assert len(sleeps) == 2


def test_truncated_body_over_real_http(server: LocalServer) -> None:
    """Content-Length promises more than arrives, then the connection closes."""
    cut = {"Content-Length": "200", "Connection": "close", "TrackingID": "ROUTER_CUT"}
    server.add("GET", "/v1/rooms/R1", 200, cut, b'{"id": "R1", "ti')
    server.add("POST", "/v1/rooms", 200, cut, b'{"id": "R1", "ti')
    sleeps: list[float] = []
    client = WebexClient(
        TOKEN, base_url=server.base_url, retry=RetryPolicy(max_retries=2, sleep=sleeps.append)
    )
    with pytest.raises(MalformedResponseError) as info:
        client.rooms.get("R1")  # idempotent: retried, then reported
    assert len(sleeps) == 2 and len(server.requests) == 3
    text = str(info.value)
    assert "200" in text and "ROUTER_CUT" in text and "cut off" in text
    with pytest.raises(MalformedResponseError, match="ROUTER_CUT"):
        client.rooms.create("x")  # POST: reported at once
    assert len(server.requests) == 4


def test_truncated_error_body_still_maps_the_status(server: LocalServer) -> None:
    server.add(
        "GET",
        "/v1/rooms/R1",
        404,
        {"Content-Length": "200", "Connection": "close", "TrackingID": "ROUTER_404"},
        b'{"message": "no',
    )
    client = WebexClient(TOKEN, base_url=server.base_url)
    with pytest.raises(NotFoundError) as info:
        client.rooms.get("R1")
    assert info.value.tracking_id == "ROUTER_404"


def test_query_values_are_encoded_for_webex(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    rsps.get(f"{BASE_URL}/events", json={"items": []})
    rsps.get(f"{BASE_URL}/rooms", json={"items": []})
    list(
        client.events.list(
            from_=datetime(2016, 5, 16, 21, 34, 59, 324000, tzinfo=UTC),
            to=datetime(2016, 5, 17, 1, 0, tzinfo=timezone(timedelta(hours=2))),
        )
    )
    list(client.rooms.list(org_public_spaces=True, from_=datetime(2020, 1, 1)))
    from urllib.parse import parse_qs, urlsplit

    events = parse_qs(urlsplit(str(rsps.calls[0].request.url)).query)
    assert events == {"from": ["2016-05-16T21:34:59.324Z"], "to": ["2016-05-16T23:00:00.000Z"]}
    rooms = parse_qs(urlsplit(str(rsps.calls[1].request.url)).query)
    assert rooms == {"orgPublicSpaces": ["true"], "from": ["2020-01-01T00:00:00.000Z"]}
