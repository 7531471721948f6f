"""A small HTTP control surface for a fake Webex running in another process.

In-process tests call ``fake.fail_next(...)`` and read ``fake.deliveries`` directly. The demo
(``make demo``) and other multi-process setups run the fake as a standalone server, so they
need the same levers over HTTP. Off by default: ``python -m django_webexteams.testing
--control`` (or ``FakeWebex(control=True)``) turns it on.

Endpoints (JSON; not part of the Webex API, so under ``/_fake/`` and never under ``/v1``):

``POST /_fake/fail-next``
    body ``{"status": 429, "times": 1, "retry_after": 2, "method": "POST",
    "path": "/messages", "person": "<person id or e-mail>", "message": "..."}`` (only
    ``status`` is required): arms :meth:`FakeWebex.fail_next`. Answers 200 with the rule.
``POST /_fake/reset-faults``
    drops every armed fault, latency, drop and rate limit (:meth:`FakeWebex.reset_faults`).
``GET /_fake/deliveries``
    the webhook deliveries attempted so far: metadata only (webhook id, target URL,
    resource, event, data id, status code, error, whether it was signed). Never the body or
    the signature: a delivery body is sensitive even on a fake.
``GET /_fake/requests``
    the API requests answered so far (method, path, status, person id, tracking id); the
    optional query parameters ``method``, ``path`` (a prefix) and ``person`` filter them.
``GET /_fake/websockets``
    the authorised websockets open now, by person id: ``{"items": [{"person_id": ...}]}``.
    A listener has printed that it started before its socket is open and authorised; an
    activity published before that reaches nobody (as at Webex), so whoever drives a
    listener waits here for its socket.

Security: the levers let anyone who can reach them break or observe the fake, so they answer
only loopback clients (403 otherwise), whatever address the server is bound to.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from .errors import WebexError, bad_request
from .http import Request, Response

if TYPE_CHECKING:
    from .fake import FakeWebex

PREFIX = "/_fake/"


def is_control_path(raw_path: str) -> bool:
    return raw_path.startswith(PREFIX) or raw_path == PREFIX.rstrip("/")


def _is_loopback(remote_addr: str | None) -> bool:
    if not remote_addr:
        # The in-process adapter and ``fake.call`` have no socket: same process, same trust.
        return True
    try:
        return ipaddress.ip_address(remote_addr.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def handle(fake: FakeWebex, req: Request, remote_addr: str | None) -> Response:
    """Answer one control request (the caller checked ``fake.control`` and the path)."""
    if not _is_loopback(remote_addr):
        raise WebexError(403, "The fake's control API answers loopback clients only.")
    name = req.raw_path[len(PREFIX) :].strip("/") if is_control_path(req.raw_path) else ""
    routes = {
        ("POST", "fail-next"): _fail_next,
        ("POST", "reset-faults"): _reset_faults,
        ("GET", "deliveries"): _deliveries,
        ("GET", "requests"): _requests,
        ("GET", "websockets"): _websockets,
    }
    handler = routes.get((req.method, name))
    if handler is None:
        if any(n == name for _, n in routes):
            raise WebexError(405, "The requested method is not allowed for this resource.")
        raise WebexError(404, f"No control endpoint {req.raw_path!r}; see {PREFIX}.")
    return handler(fake, req)


def _int(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{key} must be an integer")
    return value


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def _fail_next(fake: FakeWebex, req: Request) -> Response:
    data = req.json()
    status = _int(data, "status")
    if status is None or not 400 <= status <= 599:
        raise bad_request("status (400-599) is required")
    times = _int(data, "times", 1)
    if times is None or times < 1:
        raise bad_request("times must be at least 1")
    retry_after = data.get("retry_after")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, int | float | str)
    ):
        raise bad_request("retry_after must be a number or a string")
    method, path, person = _str(data, "method"), _str(data, "path"), _str(data, "person")
    try:
        fake.fail_next(
            status,
            times,
            retry_after,
            method=method,
            path=path,
            message=_str(data, "message"),
            person=person,
        )
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    armed = {"status": status, "times": times, "retry_after": retry_after, "method": method,
             "path": path, "person": person}  # fmt: skip
    return Response(200, {"armed": armed})


def _reset_faults(fake: FakeWebex, req: Request) -> Response:
    fake.reset_faults()
    return Response(204)


def _deliveries(fake: FakeWebex, req: Request) -> Response:
    items = [
        {
            "webhook_id": d.webhook_id,
            "target_url": d.target_url,
            "resource": d.resource,
            "event": d.event,
            "data_id": (d.payload.get("data") or {}).get("id"),
            "status_code": d.status_code,
            "error": d.error,
            "signed": bool(d.signature),
            "done": d.done.is_set(),
        }
        for d in fake.deliveries
    ]
    return Response(200, {"items": items})


def _requests(fake: FakeWebex, req: Request) -> Response:
    method, path, person = req.arg("method"), req.arg("path"), req.arg("person")
    items = [
        {
            "method": r.method,
            "path": r.path,
            "status": r.status,
            "person_id": r.person_id,
            "tracking_id": r.tracking_id,
        }
        for r in fake.requests
        if (method is None or r.method == method.upper())
        and (path is None or r.path.startswith(path))
        and (person is None or r.person_id == person)
    ]
    return Response(200, {"items": items})


def _websockets(fake: FakeWebex, req: Request) -> Response:
    items = [{"person_id": person_id} for person_id in fake.mercury.authorised_people()]
    return Response(200, {"items": items})
