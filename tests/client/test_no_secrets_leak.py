"""No token or secret in any log line, exception text or repr, with DEBUG logging on
(urllib3's included) and real HTTP on loopback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_webexteams.client import RetryPolicy, WebexClient
from django_webexteams.client.oauth import exchange_code, refresh_access_token

from .local_server import LocalServer, local_server

TOKEN = "tok-LEAKCHECK-9f8e7d6c5b4a"
NEW_TOKEN = "tok-REFRESHED-0a1b2c3d"
CLIENT_SECRET = "cs-LEAKCHECK-secret"
REFRESH = "rt-LEAKCHECK-refresh"
WEBHOOK_SECRET = "wh-LEAKCHECK-secret"
SECRETS = [TOKEN, NEW_TOKEN, CLIENT_SECRET, REFRESH, WEBHOOK_SECRET, "LEAKCHECK"]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


def _j(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_nothing_secret_reaches_logs_errors_or_reprs(
    server: LocalServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # root: urllib3, requests, our client, everything
    for name in ("urllib3", "urllib3.connectionpool", "requests", "django_webexteams.client"):
        logging.getLogger(name).setLevel(logging.DEBUG)

    server.add("GET", "/v1/people/me", 200, {"TrackingID": "ROUTER_1"}, _j({"id": "P"}))
    server.add(
        "GET",
        "/v1/rooms/R404",
        404,
        {"TrackingID": "ROUTER_2"},
        _j({"message": "not found", "trackingId": "ROUTER_2"}),
    )
    server.add("GET", "/v1/rooms/R429", 429, {"Retry-After": "rand(30)"}, b"{}")
    server.add("GET", "/v1/rooms/R500", 500, {}, b"<html>")
    server.add("GET", "/v1/rooms/BAD", 200, {}, b"{not json")
    server.add("GET", "/v1/rooms/REDIR", 302, {"Location": "https://evil.example/steal"}, b"")
    server.add("GET", "/v1/teams/T401", 401, {}, _j({"message": "expired"}))
    server.add("GET", "/v1/teams/T401", 200, {}, _j({"id": "T"}))
    server.add(
        "POST", "/v1/webhooks", 200, {}, _j({"id": "W", "secret": WEBHOOK_SECRET, "name": "n"})
    )
    server.add("POST", "/v1/messages", 200, {}, _j({"id": "M"}))
    server.add(
        "GET",
        "/v1/contents/C1",
        200,
        {"Content-Disposition": 'attachment; filename="a"'},
        b"filedata",
    )
    server.add(
        "POST",
        "/v1/access_token",
        200,
        {},
        _j({"access_token": NEW_TOKEN, "refresh_token": REFRESH, "expires_in": 1}),
    )
    server.add(
        "POST",
        "/v1/access_token",
        400,
        {},
        _j({"error": "invalid_grant", "error_description": "bad refresh token"}),
    )

    texts: list[str] = []
    client = WebexClient(
        TOKEN,
        base_url=server.base_url,
        on_unauthorized=lambda: NEW_TOKEN,
        retry=RetryPolicy(max_retries=1, sleep=lambda s: None),
    )
    texts += [
        repr(client),
        str(client),
        repr(client.transport),
        repr(client.rooms),
        repr(client.retry),
        repr(client.rooms.list()),
        repr(client.session.auth),
        repr(vars(client)),
    ]

    def attempt(fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except Exception as exc:
            texts.extend([str(exc), repr(exc), repr(exc.args)])
            cause = exc.__cause__
            if cause is not None:
                texts.extend([str(cause), repr(cause)])
            return None
        texts.append(repr(result))
        return result

    attempt(client.people.me)
    attempt(lambda: client.rooms.get("R404"))
    attempt(lambda: client.rooms.get("R429"))
    attempt(lambda: client.rooms.get("R500"))
    attempt(lambda: client.rooms.get("BAD"))
    attempt(lambda: client.rooms.get("REDIR"))
    attempt(lambda: client.teams.get("T401"))  # 401 -> refresh -> retried with new token
    attempt(
        lambda: client.webhooks.create(
            "n", "https://e/x", "messages", "created", secret=WEBHOOK_SECRET
        )
    )
    attempt(lambda: client.messages.create(room_id="R", files=[("f.txt", b"x", None)]))
    attempt(lambda: client.contents.download("C1", io.BytesIO()))
    attempt(lambda: client.contents.info("https://evil.example/x"))
    attempt(
        lambda: exchange_code(
            client_id="C",
            client_secret=CLIENT_SECRET,
            code="CODE",
            redirect_uri="r",
            base_url=server.base_url,
        )
    )
    attempt(
        lambda: refresh_access_token(
            client_id="C",
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH,
            base_url=server.base_url,
        )
    )
    closed = WebexClient(TOKEN, base_url="http://127.0.0.1:9/v1", retry=RetryPolicy.no_retries())
    attempt(closed.people.me)  # connection refused -> TransportError
    texts.append(repr(closed))

    # the requests really carried the tokens (so the check below is meaningful)
    auths = [r["headers"].get("Authorization", "") for r in server.requests]
    assert f"Bearer {TOKEN}" in auths and f"Bearer {NEW_TOKEN}" in auths
    assert any(CLIENT_SECRET.encode() in r["body"] for r in server.requests)
    assert any("urllib3" in r.name for r in caplog.records), "urllib3 DEBUG logging was off"
    assert any(r.name == "django_webexteams.client" for r in caplog.records)

    captured = capsys.readouterr()
    haystacks = {
        "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "exceptions and reprs": "\n".join(texts),
        "stdout/stderr": captured.out + captured.err,
    }
    for where, text in haystacks.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {where}"
    assert "Bearer" not in haystacks["logs"]


def test_errors_keep_no_request_with_the_token_or_the_client_secret(
    server: LocalServer,
) -> None:
    """Attack (issue 16): whoever gets hold of an error (a log handler with exc_info, Sentry,
    the caller) reads ``exc.response.request``: headers with the bearer token, and at the
    token endpoint a body with ``client_secret`` and the refresh token."""
    from django_webexteams.client import ApiError
    from django_webexteams.client.oauth import OAuthError

    server.add("GET", "/v1/rooms/R404", 404, {}, _j({"message": "not found"}))
    server.add("POST", "/v1/access_token", 400, {}, _j({"error": "invalid_grant"}))
    client = WebexClient(TOKEN, base_url=server.base_url, retry=RetryPolicy.no_retries())
    with pytest.raises(ApiError) as api:
        client.rooms.get("R404")
    with pytest.raises(OAuthError) as oauth:
        refresh_access_token(
            client_id="C", client_secret=CLIENT_SECRET, refresh_token=REFRESH,
            base_url=server.base_url,
        )  # fmt: skip
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"  # it was sent
    for exc in (api.value, oauth.value):
        response = exc.response
        assert response is not None and response.status_code in (400, 404)
        for item in (response, *response.history):
            request = item.request
            assert request is not None and request.method in ("GET", "POST")
            assert request.url and request.url.startswith(server.base_url)
            text = repr(dict(request.headers)) + repr(request.body)
            for secret in SECRETS:
                assert secret not in text
