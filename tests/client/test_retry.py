"""RetryPolicy in the transport and RetryExecutor for callers' own calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses

from django_webexteams.client import (
    LockedError,
    RateLimitedError,
    RetryExecutor,
    RetryPolicy,
    ServerError,
    TransportError,
    UnauthorizedError,
    WebexClient,
)

from .conftest import BASE_URL, TOKEN, Sleeps

ROOM = {"id": "R1", "title": "t"}


def _fail_then(
    rsps: responses.RequestsMock,
    method: str,
    url: str,
    failures: list[Any],
    final: dict[str, Any] | None = None,
) -> None:
    for failure in failures:
        if isinstance(failure, int):
            rsps.add(method, url, status=failure, json={"message": "boom"})
        else:
            rsps.add(method, url, body=failure)
    if final is not None:
        rsps.add(method, url, **final)


OPS: dict[str, tuple[str, str, Callable[[WebexClient], Any]]] = {
    "GET": ("GET", f"{BASE_URL}/rooms/R1", lambda c: c.rooms.get("R1")),
    "PUT": ("PUT", f"{BASE_URL}/rooms/R1", lambda c: c.rooms.update("R1", title="t")),
    "DELETE": ("DELETE", f"{BASE_URL}/rooms/R1", lambda c: c.rooms.delete("R1")),
    "HEAD": ("HEAD", f"{BASE_URL}/contents/C1", lambda c: c.contents.info("C1")),
}


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize(
    "failure", [500, 502, 503, 504, requests.ConnectionError("reset"), requests.ReadTimeout("slow")]
)
def test_idempotent_methods_retry_5xx_and_connection_errors(
    name: str,
    failure: Any,
    client: WebexClient,
    rsps: responses.RequestsMock,
    sleeps: Sleeps,
) -> None:
    method, url, call = OPS[name]
    final: dict[str, Any] = {"json": ROOM} if method in ("GET", "PUT") else {"status": 204}
    if method == "HEAD":
        final = {"status": 200, "headers": {"Content-Length": "3"}}
    _fail_then(rsps, method, url, [failure, failure], final)
    call(client)
    assert len(rsps.calls) == 3
    assert sleeps == [0.5, 1.0]  # backoff_base * 2**n, random() pinned to 1.0


def test_retries_are_bounded(
    client: WebexClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    _fail_then(rsps, "GET", f"{BASE_URL}/rooms/R1", [503] * 10)
    with pytest.raises(ServerError):
        client.rooms.get("R1")
    assert len(rsps.calls) == 4  # 1 + max_retries (3)
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_has_full_jitter_and_a_ceiling() -> None:
    values = iter([0.0, 0.25, 0.999])
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0, random=lambda: next(values))
    assert policy.backoff(0) == 0.0
    assert policy.backoff(2) == 1.0  # 0.25 * min(5, 4)
    assert policy.backoff(10) == pytest.approx(4.995)  # ceiling 5
    real = RetryPolicy()
    assert all(0 <= real.backoff(3) <= 4.0 for _ in range(50))


@pytest.mark.parametrize(
    "failure", [503, requests.ConnectionError("reset"), requests.ReadTimeout("slow")]
)
def test_post_is_never_retried(
    failure: Any, client: WebexClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    _fail_then(rsps, "POST", f"{BASE_URL}/messages", [failure], {"json": {"id": "M"}})
    with pytest.raises((ServerError, TransportError)):
        client.messages.create(room_id="R", text="hi")
    assert len(rsps.calls) == 1 and sleeps == []


def test_timeout_is_flagged(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{BASE_URL}/messages", body=requests.ConnectTimeout("x"))
    with pytest.raises(TransportError) as info:
        client.messages.create(room_id="R", text="hi")
    assert info.value.is_timeout
    rsps.post(f"{BASE_URL}/rooms", body=requests.ConnectionError("refused"))
    with pytest.raises(TransportError) as info2:
        client.rooms.create("x")
    assert not info2.value.is_timeout


def test_4xx_is_not_retried(
    client: WebexClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    _fail_then(rsps, "GET", f"{BASE_URL}/rooms/R1", [404, 404])
    with pytest.raises(Exception, match="404"):
        client.rooms.get("R1")
    assert len(rsps.calls) == 1 and sleeps == []


def test_429_raises_by_default(
    client: WebexClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    rsps.get(f"{BASE_URL}/rooms/R1", status=429, headers={"Retry-After": "3"})
    rsps.get(f"{BASE_URL}/rooms/R1", json=ROOM)
    with pytest.raises(RateLimitedError) as info:
        client.rooms.get("R1")
    assert info.value.retry_after == 3.0
    assert len(rsps.calls) == 1 and sleeps == []


@pytest.mark.parametrize("status", [429, 423])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_opt_in_waits_retry_after(
    status: int, method: str, sleeps: Sleeps, rsps: responses.RequestsMock
) -> None:
    client = WebexClient(TOKEN, retry=RetryPolicy(wait_on_rate_limit=True, sleep=sleeps))
    url = f"{BASE_URL}/rooms" + ("/R1" if method == "GET" else "")
    rsps.add(method, url, status=status, headers={"Retry-After": "4"})
    rsps.add(method, url, status=status, headers={"Retry-After": "junk"})
    rsps.add(method, url, json=ROOM)
    room = client.rooms.get("R1") if method == "GET" else client.rooms.create("t")
    assert room.id == "R1"
    assert sleeps == [4.0, 15.0]  # malformed -> 15


def test_opt_in_wait_is_capped_in_total(sleeps: Sleeps, rsps: responses.RequestsMock) -> None:
    client = WebexClient(
        TOKEN, retry=RetryPolicy(wait_on_rate_limit=True, max_rate_limit_wait=30, sleep=sleeps)
    )
    for _ in range(5):
        rsps.get(f"{BASE_URL}/rooms/R1", status=429, headers={"Retry-After": "12"})
    with pytest.raises(RateLimitedError):
        client.rooms.get("R1")
    assert sleeps == [12.0, 12.0]  # a third wait would pass 30 s in total
    assert len(rsps.calls) == 3


def test_opt_in_never_waits_longer_than_the_cap_once(
    sleeps: Sleeps, rsps: responses.RequestsMock
) -> None:
    client = WebexClient(
        TOKEN, retry=RetryPolicy(wait_on_rate_limit=True, max_rate_limit_wait=60, sleep=sleeps)
    )
    rsps.get(f"{BASE_URL}/rooms/R1", status=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimitedError) as info:
        client.rooms.get("R1")
    assert info.value.retry_after == 600 and sleeps == []


def test_contents_423_is_handled_like_429(sleeps: Sleeps, rsps: responses.RequestsMock) -> None:
    client = WebexClient(TOKEN, retry=RetryPolicy(sleep=sleeps))
    rsps.head(f"{BASE_URL}/contents/C1", status=423, headers={"Retry-After": "5"})
    with pytest.raises(LockedError) as info:
        client.contents.info("C1")
    assert info.value.retry_after == 5.0


def test_on_unauthorized_refreshes_once(rsps: responses.RequestsMock) -> None:
    calls: list[int] = []

    def refresh() -> str:
        calls.append(1)
        return "NEW-TOKEN"

    client = WebexClient("OLD-TOKEN", on_unauthorized=refresh)
    rsps.get(f"{BASE_URL}/people/me", status=401, json={"message": "expired"})
    rsps.get(f"{BASE_URL}/people/me", json={"id": "P"})
    assert client.people.me().id == "P"
    assert calls == [1]
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer OLD-TOKEN"
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer NEW-TOKEN"
    rsps.get(f"{BASE_URL}/people/me", status=401, json={"message": "revoked"})
    rsps.get(f"{BASE_URL}/people/me", status=401, json={"message": "revoked"})
    with pytest.raises(UnauthorizedError):
        client.people.me()  # refreshed once more, still 401: raised, no loop
    assert calls == [1, 1]


def test_on_unauthorized_returning_none_raises(rsps: responses.RequestsMock) -> None:
    client = WebexClient("T", on_unauthorized=lambda: None)
    rsps.get(f"{BASE_URL}/people/me", status=401)
    with pytest.raises(UnauthorizedError):
        client.people.me()
    assert len(rsps.calls) == 1


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_base=-1)
    assert RetryPolicy.no_retries().max_retries == 0
    assert "sleep" not in repr(RetryPolicy())


# -- RetryExecutor ----------------------------------------------------------------------------
class Flaky:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, value: str = "ok") -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return value


def test_executor_retries_server_and_transport_errors(sleeps: Sleeps) -> None:
    seen: list[tuple[str, int, float]] = []
    executor = RetryExecutor(
        RetryPolicy(sleep=sleeps, random=lambda: 1.0),
        on_retry=lambda e, n, d: seen.append((type(e).__name__, n, d)),
    )
    fn = Flaky(ServerError(503), TransportError("reset"))
    assert executor.run(fn, value="done") == "done"
    assert fn.calls == 3 and sleeps == [0.5, 1.0]
    assert seen == [("ServerError", 1, 0.5), ("TransportError", 2, 1.0)]


def test_executor_waits_retry_after_within_cap(sleeps: Sleeps) -> None:
    executor = RetryExecutor(RetryPolicy(sleep=sleeps, max_rate_limit_wait=20))
    fn = Flaky(RateLimitedError(429, retry_after=8), LockedError(423, retry_after=9))
    assert executor(fn) == "ok"
    assert sleeps == [8.0, 9.0]
    fn2 = Flaky(
        RateLimitedError(429, retry_after=8),
        RateLimitedError(429, retry_after=8),
        RateLimitedError(429, retry_after=8),
    )
    sleeps.clear()
    with pytest.raises(RateLimitedError):
        executor(fn2)
    assert sleeps == [8.0, 8.0]


def test_executor_gives_up_after_max_retries(sleeps: Sleeps) -> None:
    executor = RetryExecutor(RetryPolicy(max_retries=2, sleep=sleeps))
    fn = Flaky(*(ServerError(500) for _ in range(5)))
    with pytest.raises(ServerError):
        executor.run(fn)
    assert fn.calls == 3


def test_executor_does_not_retry_other_errors_unless_told(sleeps: Sleeps) -> None:
    executor = RetryExecutor(RetryPolicy(sleep=sleeps))
    fn = Flaky(KeyError("x"))
    with pytest.raises(KeyError):
        executor.run(fn)
    assert fn.calls == 1
    custom = RetryExecutor(
        RetryPolicy(sleep=sleeps), should_retry=lambda e, n: isinstance(e, KeyError) or None
    )
    fn = Flaky(KeyError("x"))
    assert custom.run(fn) == "ok" and fn.calls == 2
    veto = RetryExecutor(RetryPolicy(sleep=sleeps), should_retry=lambda e, n: False)
    fn = Flaky(ServerError(503))
    with pytest.raises(ServerError):
        veto.run(fn)


def test_executor_wraps_client_calls(sleeps: Sleeps, rsps: responses.RequestsMock) -> None:
    client = WebexClient(TOKEN, retry=RetryPolicy.no_retries())
    rsps.post(f"{BASE_URL}/messages", status=429, headers={"Retry-After": "2"})
    rsps.post(f"{BASE_URL}/messages", json={"id": "M1"})
    executor = RetryExecutor(RetryPolicy(sleep=sleeps))
    message = executor.run(client.messages.create, room_id="R", text="hi")
    assert message.id == "M1" and sleeps == [2.0]
