"""The WSGI application: faults, routing, auth, rate limits, errors, TrackingID, request log.

Every response carries a ``TrackingID`` header; every error has the Webex error body. Bad
input never produces a traceback: handlers raise ``WebexError``; anything else is a bug in the
fake, answered with a Webex-style 500 and recorded in ``fake.unexpected_errors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from . import control
from .errors import NOT_FOUND, RATE_LIMITED, UNAUTHORIZED, WebexError, error_body
from .http import Request, Response
from .ids import tracking_id
from .routes import router
from .routes.base import Ctx

if TYPE_CHECKING:
    from .fake import FakeWebex

log = logging.getLogger("django_webexteams.testing")

_sleep = time.sleep  # module-level so tests can observe latency without waiting

DROP = object()  # handle() result: close the connection without answering

_DEFAULT_MESSAGES = {
    400: "The request was invalid or cannot be otherwise served.",
    401: UNAUTHORIZED,
    403: "The server understood the request, but refused to fulfill it.",
    404: NOT_FOUND,
    409: "The request could not be processed because it conflicts with some established rule "
    "of the system.",
    423: "The requested resource is temporarily unavailable.",
    429: RATE_LIMITED,
    500: "Something went wrong on the server.",
    502: "The server received an invalid response from an upstream server.",
    503: "Server is overloaded with requests. Try again later.",
    504: "An upstream server failed to respond on time.",
}


@dataclass
class RecordedRequest:
    """One request the fake answered (``fake.requests``). No Authorization header, ever."""

    method: str
    path: str  # without the /v1 prefix
    query: dict[str, list[str]]
    status: int
    tracking_id: str
    person_id: str | None
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    body: bytes = field(repr=False, default=b"")


class FakeApp:
    """WSGI callable bound to one ``FakeWebex``."""

    def __init__(self, fake: FakeWebex) -> None:
        self.fake = fake

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        result = self.handle(environ)
        if result is DROP:
            environ["fakewebex.drop"] = True
            start_response("500 Dropped", [("Content-Length", "0")])
            return []
        assert isinstance(result, Response)
        body = result.encode()
        headers = [(k, v) for k, v in result.headers.items()]
        if not any(k.lower() == "content-length" for k, _ in headers):
            headers.append(("Content-Length", str(len(body))))
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""
        try:
            phrase = HTTPStatus(result.status).phrase
        except ValueError:
            phrase = "Unknown"
        start_response(f"{result.status} {phrase}", headers)
        return [body]

    # ------------------------------------------------------------------------------------
    def handle(self, environ: dict[str, Any]) -> Response | object:
        tracking = tracking_id()
        internal = bool(environ.get("fakewebex.internal"))
        try:
            req = Request.from_environ(environ)
        except Exception:
            return self._finish(self._error(400, "Malformed request.", tracking), tracking)
        if self.fake.control and control.is_control_path(req.raw_path):
            # The opt-in control API (control.py): not Webex, not recorded, no faults.
            try:
                answer = control.handle(self.fake, req, environ.get("REMOTE_ADDR"))
            except WebexError as exc:
                answer = self._error(exc.status, exc.message, tracking, exc.description)
            return self._finish(answer, tracking)
        holder: list[Ctx] = []
        try:
            response = self._dispatch(req, tracking, internal, holder)
        except WebexError as exc:
            response = self._error(
                exc.status, exc.message, tracking, exc.description, exc.headers, exc.extra
            )
        except Exception as exc:
            log.exception("fake Webex: unexpected error on %s %s", req.method, req.path)
            self.fake.unexpected_errors.append(exc)
            response = self._error(500, _DEFAULT_MESSAGES[500], tracking)
        if response is DROP:
            return DROP
        if not isinstance(response, Response):  # a handler returned something else: a bug
            self.fake.unexpected_errors.append(TypeError(f"handler returned {response!r}"))
            response = self._error(500, _DEFAULT_MESSAGES[500], tracking)
        self._finish(response, tracking)
        if not internal:
            headers = {k: v for k, v in req.headers.items() if k != "authorization"}
            self.fake._record(
                RecordedRequest(
                    req.method,
                    req.path,
                    req.query,
                    response.status,
                    tracking,
                    holder[0].caller.id
                    if holder and holder[0].caller
                    # Answered before routing (an injected fault): still say whose call it was.
                    else (None if holder else self._caller_id(req)),
                    headers,
                    req.body,
                )
            )
        return response

    def _finish(self, response: Response, tracking: str) -> Response:
        response.headers.setdefault("TrackingID", tracking)
        if response.status != 204 and response.status != 302:
            response.headers.setdefault("Content-Type", response.content_type)
        if response.status == 204:
            response.body = None
        return response

    def _error(
        self,
        status: int,
        message: str,
        tracking: str,
        description: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Response:
        body = error_body(message, tracking, description)
        if extra:
            body.update(extra)
        return Response(status, body, dict(headers or {}))

    def _dispatch(self, req: Request, tracking: str, internal: bool, holder: list[Ctx]) -> object:
        fake = self.fake
        faults = fake.faults
        # Outside /v1 only the websocket path's services are served (routes/mercury.py).
        root = not (req.raw_path == "/v1" or req.raw_path.startswith("/v1/"))
        if not internal:
            if faults.take_drop(req.path):
                return DROP
            delay = faults.delay_for(req.path)
            if delay:
                _sleep(delay)
            rule = faults.take_rule(req.method, req.path, lambda: self._caller_id(req))
            if rule is not None:
                headers = {}
                if rule.retry_after is not None:
                    ra = rule.retry_after
                    headers["Retry-After"] = (
                        str(int(ra)) if isinstance(ra, float) and ra.is_integer() else str(ra)
                    )
                message = rule.message or _DEFAULT_MESSAGES.get(rule.status, "Injected failure.")
                raise WebexError(rule.status, message, headers=headers)
        route, params, path_exists = router.match(req.method, req.path, root=root)
        if route is None:
            if path_exists:
                raise WebexError(405, "The requested method is not allowed for this resource.")
            # Loud: an unknown route is usually a bug in the caller (or a gap in the fake).
            log.warning("fake Webex: no route for %s %s", req.method, req.raw_path)
            raise WebexError(404, NOT_FOUND)
        ctx = Ctx(fake=fake, req=req, params=params)
        holder.append(ctx)
        if route.auth:
            self._authenticate(ctx)
            if fake.enforce_scopes and ctx.token is not None:
                from .scopes import allowed, required_scope

                needed = required_scope(req.method, req.path)
                if not allowed(ctx.token.scopes, needed):
                    raise WebexError(
                        403,
                        "The access token does not have the scope this request needs.",
                        f"Missing scope: {needed}",
                    )
            if not internal and ctx.token is not None:
                retry_after = faults.check_rate(ctx.token.value)
                if retry_after is not None:
                    raise WebexError(429, RATE_LIMITED, headers={"Retry-After": str(retry_after)})
        state = fake.state
        jobs = []
        with state.lock:
            response = route.handler(ctx)
            from .delivery import match

            for ev in ctx.pending:
                jobs.extend(match(state, ev))
            # The same changes as websocket frames, to the same audience; queued under the
            # lock so that every socket gets them in the order the changes happened.
            fake.mercury.publish(fake.mercury.frames_for(state, ctx.pending))
        for hook, envelope in jobs:
            fake.dispatcher.submit(hook, envelope)
        return response

    def _caller_id(self, req: Request) -> str | None:
        """The person id behind the request's bearer token (None if it names nobody)."""
        state = self.fake.state
        with state.lock:
            token = state.tokens.get(req.bearer or "")
            return token.person_id if token is not None else None

    def _authenticate(self, ctx: Ctx) -> None:
        token_value = ctx.req.bearer
        state = self.fake.state
        with state.lock:
            token = state.tokens.get(token_value or "")
            person = state.people.get(token.person_id) if token else None
            expired = (
                token is not None
                and token.expires_at is not None
                and token.expires_at <= state.clock.time()
            )
        if token is None or person is None or token.revoked or expired:
            raise WebexError(401, UNAUTHORIZED)
        ctx.caller, ctx.token = person, token
