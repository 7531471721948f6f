"""Exceptions raised by the Webex client.

One base class per layer: :class:`WebexError` for everything the client raises on purpose,
:class:`ApiError` when Webex answered with an error status, :class:`TransportError` when no
usable answer arrived at all. Messages never contain the access token, a secret or a request
body: they are built only from the status, Webex's own error message and the tracking id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

from .retry_after import DEFAULT_RETRY_AFTER, parse_retry_after

__all__ = [
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "GoneError",
    "LockedError",
    "MalformedResponseError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "RetryLaterError",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "WebexError",
    "error_for_response",
    "tracking_id_of",
]


class WebexError(Exception):
    """Base class of every error the client raises on purpose.

    Instances pickle with their attributes (Celery moves exceptions between processes); the
    :class:`requests.Response` an :class:`ApiError` carries is dropped when pickled."""

    def __reduce__(self) -> tuple[Any, ...]:
        # SECURITY: the response's request carries the Authorization header; it must not end
        # up in a Celery result backend or any other pickle.
        state = {k: v for k, v in self.__dict__.items() if k != "response"}
        return (_rebuild, (type(self), self.args, state))


def _without_secrets(response: requests.Response | None) -> requests.Response | None:
    """``response`` with its request (and those of its redirect history) reduced to method
    and URL. SECURITY: an error outlives the call (logged with ``exc_info``, kept by Sentry,
    by a Celery result, by the caller); the request it came from holds the bearer token in
    ``.headers`` and, at the token endpoint, ``client_secret`` and the refresh token in
    ``.body``. The response is finished with once an error is built from it."""
    if response is None:
        return None
    for item in (response, *response.history):
        original = item.request
        if original is None:
            continue
        redacted = requests.PreparedRequest()
        redacted.method = original.method
        redacted.url = original.url
        redacted.headers = requests.structures.CaseInsensitiveDict()
        redacted.body = None
        item.request = redacted
    return response


def _rebuild(cls: type[WebexError], args: tuple[Any, ...], state: dict[str, Any]) -> WebexError:
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    obj.__dict__.setdefault("response", None)
    return obj


class TransportError(WebexError):
    """No usable HTTP answer: connection refused or reset, DNS failure, TLS error, timeout.

    ``is_timeout`` tells timeouts apart (the request may have reached Webex)."""

    def __init__(
        self,
        message: str,
        *,
        is_timeout: bool = False,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.is_timeout = is_timeout
        self.method = method
        self.url = url


class ApiError(WebexError):
    """Webex answered with an error status.

    ``status_code``: the HTTP status; ``message``: Webex's ``message`` (or the reason phrase);
    ``errors``: the ``errors`` list of the body (dicts, usually with a ``description``);
    ``tracking_id``: body ``trackingId`` or the ``TrackingID`` header, quote it to Webex
    support; ``response``: the :class:`requests.Response`, when there was one.
    """

    #: status used when none is given (subclasses for one status set theirs)
    default_status: int = 0

    def __init__(
        self,
        status_code: int | None = None,
        message: str = "",
        *,
        errors: list[dict[str, Any]] | None = None,
        tracking_id: str | None = None,
        response: requests.Response | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status_code: int = self.default_status if status_code is None else status_code
        self.message = message
        self.errors: list[dict[str, Any]] = list(errors or [])
        self.tracking_id = tracking_id
        self.response = _without_secrets(response)
        self.method = method
        self.url = url
        super().__init__(self._describe())

    @property
    def description(self) -> str | None:
        """The ``description`` fields of ``errors`` joined, or None (what the original
        library called the error description)."""
        parts = [str(e.get("description")) for e in self.errors if e.get("description")]
        return "; ".join(parts) or None

    def _describe(self) -> str:
        where = f" ({self.method} {_path_only(self.url)})" if self.method and self.url else ""
        text = f"Webex API error {self.status_code}{where}: {self.message or 'no message'}"
        desc = self.description
        if desc and desc != self.message:
            text += f" [{desc}]"
        if self.tracking_id:
            text += f" (tracking id {self.tracking_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"message={self.message!r}, tracking_id={self.tracking_id!r})"
        )


class BadRequestError(ApiError):
    """400: the request was invalid (a missing or wrong parameter)."""


class UnauthorizedError(ApiError):
    """401: the access token is missing, invalid or expired."""


class ForbiddenError(ApiError):
    """403: the token lacks a scope, or the user/bot may not see this resource."""


class NotFoundError(ApiError):
    """404: no such resource (or not visible to this token)."""


class MethodNotAllowedError(ApiError):
    """405: the HTTP method is not supported on this path."""


class ConflictError(ApiError):
    """409: conflicts with the current state (e.g. the person is already a member)."""


class GoneError(ApiError):
    """410: gone; for files, the file was found to be infected and removed."""


class UnsupportedMediaTypeError(ApiError):
    """415: the body's media type is not accepted."""


class PreconditionRequiredError(ApiError):
    """428: a file could not be scanned; download it with ``allow_unscannable=True``."""


class ServerError(ApiError):
    """5xx: Webex failed. Idempotent calls are retried automatically by the default policy."""


class RetryLaterError(ApiError):
    """Webex asks to come back later; ``retry_after`` (seconds, float, >= 1) says when.

    A missing or malformed ``Retry-After`` gives 15 seconds (what the official SDK uses);
    absurdly large values are capped (see :mod:`retry_after`)."""

    def __init__(
        self,
        status_code: int | None = None,
        message: str = "",
        *,
        retry_after: float = DEFAULT_RETRY_AFTER,
        **kwargs: Any,
    ) -> None:
        self.retry_after = parse_retry_after(retry_after)
        super().__init__(status_code, message, **kwargs)

    def _describe(self) -> str:
        return f"{super()._describe()}; retry after {self.retry_after:g}s"

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, retry_after={self.retry_after!r})"


class RateLimitedError(RetryLaterError):
    """429: too many requests for this token."""


class LockedError(RetryLaterError):
    """423: the file is still being scanned for malware; try again after ``retry_after``."""


class MalformedResponseError(ApiError):
    """Webex answered, but the body is not the JSON that was expected (truncated, HTML from a
    proxy, ...). ``status_code`` is the status that came with it."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    410: GoneError,
    415: UnsupportedMediaTypeError,
    423: LockedError,
    428: PreconditionRequiredError,
    429: RateLimitedError,
}


def _path_only(url: str | None) -> str:
    # The query string may hold e-mail addresses: keep error texts to the path.
    return (url or "").split("?", 1)[0]


def tracking_id_of(response: requests.Response, body: Any = None) -> str | None:
    """Webex's tracking id: body ``trackingId`` first, then the ``TrackingID`` header."""
    if isinstance(body, Mapping):
        value = body.get("trackingId")
        if isinstance(value, str) and value:
            return value
    header = response.headers.get("TrackingID") or response.headers.get("trackingid")
    return header or None


def error_for_response(response: requests.Response) -> ApiError:
    """Build the :class:`ApiError` subclass matching an error response. Never raises on a
    body that is empty, not JSON, or JSON of an unexpected shape."""
    status = response.status_code
    body: Any = None
    try:
        content = response.content
    except (requests.RequestException, RuntimeError):
        content = b""  # error body cut off: the status alone still says what happened
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    message = ""
    errors: list[dict[str, Any]] = []
    if isinstance(body, Mapping):
        raw_message = body.get("message")
        message = raw_message if isinstance(raw_message, str) else ""
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            errors = [e if isinstance(e, dict) else {"description": str(e)} for e in raw_errors]
        if not message:
            # OAuth endpoints answer {"error": ..., "error_description": ...}
            desc = body.get("error_description") or body.get("error")
            message = desc if isinstance(desc, str) else ""
    if not message:
        message = response.reason or "HTTP error"
    cls: type[ApiError]
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = ApiError
    kwargs: dict[str, Any] = {
        "errors": errors,
        "tracking_id": tracking_id_of(response, body),
        "response": response,
        "method": response.request.method if response.request is not None else None,
        "url": response.url,
    }
    if issubclass(cls, RetryLaterError):
        return cls(
            status,
            message,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **kwargs,
        )
    return cls(status, message, **kwargs)


# Each status class knows its status, so ``RateLimitedError(retry_after=5)`` works.
for _status, _cls in _BY_STATUS.items():
    _cls.default_status = _status
ServerError.default_status = 500
