"""The HTTP layer: one pooled :class:`requests.Session`, timeouts on every call, the bearer
token sent only to trusted hosts, error mapping, retries and the 401 refresh hook.

Security decisions (SPEC "Client"):
- The ``Authorization`` header is added per request, never to ``session.headers``, and only
  when the URL's host is the API base URL's host, one of Webex's own API hosts, or a host the
  caller listed in ``trusted_hosts``. A URL elsewhere (a file link in a message, a ``Link``
  header) raises :class:`ValueError` before anything is sent.
- Redirects are followed by hand (``allow_redirects=False``): a hop to a host that is not
  trusted is refused instead of relying on requests' own stripping of ``Authorization``.
- No log line, exception text or repr contains the token: we log method, path, status and
  tracking id only.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from django_webexteams import __version__

from .errors import (
    MalformedResponseError,
    RetryLaterError,
    TransportError,
    UnauthorizedError,
    error_for_response,
    tracking_id_of,
)
from .retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "WEBEX_API_HOSTS",
    "ApiResponse",
    "Transport",
    "build_session",
]

logger = logging.getLogger("django_webexteams.client")

DEFAULT_BASE_URL = "https://webexapis.com/v1"
#: (connect, read) seconds
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
#: Webex's own API hosts: file URLs in messages point at them (api.ciscospark.com is the
#: pre-2020 name, still answering). Tokens go there only over HTTPS.
WEBEX_API_HOSTS = frozenset({"webexapis.com", "api.ciscospark.com"})
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
POOL_SIZE = 20

Timeout = float | tuple[float, float]


def build_session(
    *,
    pool_size: int = POOL_SIZE,
    proxies: Mapping[str, str] | None = None,
    verify: bool | str = True,
) -> requests.Session:
    """A :class:`requests.Session` with a pooled adapter for http and https. Connection-level
    retries are off: retrying is :class:`RetryPolicy`'s job, with its method rules."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if proxies:
        session.proxies.update(proxies)
    session.verify = verify
    return session


class _BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer``. Passing an auth object (rather than a plain header)
    also stops requests from replacing it with credentials from ``~/.netrc``."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth (redacted)>"


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: the parsed JSON (None for 204/empty), the tracking id, and the
    raw :class:`requests.Response` (for headers such as ``Link``)."""

    data: Any
    tracking_id: str | None
    response: requests.Response

    @property
    def json_object(self) -> dict[str, Any]:
        """``data`` when it is a JSON object; otherwise :class:`MalformedResponseError`."""
        if not isinstance(self.data, dict):
            raise _malformed(self.response, "expected a JSON object")
        return self.data


def _malformed(response: requests.Response, why: str) -> MalformedResponseError:
    tid = tracking_id_of(response)
    return MalformedResponseError(
        response.status_code,
        f"Malformed response from Webex (HTTP {response.status_code}, "
        f"tracking id {tid or 'unknown'}): {why}",
        tracking_id=tid,
        response=response,
        method=response.request.method,
        url=response.url,
    )


def _normalise_timeout(timeout: Timeout | None) -> tuple[float, float]:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, tuple):
        connect, read = timeout
        return (float(connect), float(read))
    return (float(timeout), float(timeout))


class Transport:
    """Sends requests for one access token. Shared by every resource of a
    :class:`WebexClient`; thread-safe as far as :class:`requests.Session` is."""

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        on_unauthorized: Callable[[], str | None] | None = None,
        user_agent: str | None = None,
        proxies: Mapping[str, str] | None = None,
        verify: bool | str = True,
        trusted_hosts: Iterable[str] = (),
    ) -> None:
        _check_token(access_token)
        self._token = access_token
        self._auth = _BearerAuth(access_token)
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        base = urlsplit(self.base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        self._base_origin = (base.scheme, base.hostname.lower(), base.port)
        self.timeout = _normalise_timeout(timeout)
        self.owns_session = session is None
        self.session = session or build_session(proxies=proxies, verify=verify)
        self._proxies = dict(proxies) if proxies else None
        self._verify = verify
        self.retry = retry or RetryPolicy()
        self.on_unauthorized = on_unauthorized
        self.user_agent = user_agent or f"django-webexteams/{__version__}"
        self.trusted_hosts = frozenset(h.lower() for h in trusted_hosts) | WEBEX_API_HOSTS
        # Per-request work done once (see request()): whether the token may go to the base
        # URL's origin, and the header dicts, keyed by what they depend on.
        self._base_trust: tuple[str, frozenset[str], bool] | None = None
        self._header_cache: dict[tuple[str, bool, bool], dict[str, str]] = {}
        # Proxy and CA-bundle settings per (scheme, host, port), from the environment.
        self._send_settings_cache: dict[tuple[str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<Transport base_url={self.base_url!r}>"

    # -- URLs ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL for an API path (``"/rooms"``) or a full URL."""
        if _ABSOLUTE_RE.match(path):
            return path  # any scheme: check_trusted() then refuses what is not http(s)
        return f"{self.base_url}/{path.lstrip('/')}"

    def is_trusted(self, url: str) -> bool:
        """Whether the bearer token may be sent to ``url``."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("http", "https"):
            return False
        if parts.username or parts.password:
            return False
        try:
            port = parts.port
        except ValueError:
            return False
        if (parts.scheme, host, port) == self._base_origin:
            return True
        if host in self.trusted_hosts:
            # Other hosts only over HTTPS, unless the API itself is plain HTTP (local fake).
            return parts.scheme == "https" or self._base_origin[0] == "http"
        return False

    def _base_is_trusted(self) -> bool:
        """Whether URLs built from the base URL and a relative path may carry the token:
        they all share the base URL's scheme, host, port and user info (the path comes after
        the base's ``/``, so it cannot change the authority), so one check serves every
        request. Recomputed if ``base_url`` or ``trusted_hosts`` is reassigned."""
        cached = self._base_trust
        if cached is None or cached[0] is not self.base_url or cached[1] is not self.trusted_hosts:
            trusted = self.is_trusted(self.base_url + "/")
            cached = self._base_trust = (self.base_url, self.trusted_hosts, trusted)
        return cached[2]

    def check_trusted(self, url: str) -> None:
        """Raise :class:`ValueError` when the token may not go to ``url``."""
        if not self.is_trusted(url):
            host = urlsplit(url).hostname or url[:40]
            raise ValueError(
                f"Refusing to send the Webex access token to {host!r}: it is not the API host "
                "or a known Webex API host. Add it to trusted_hosts if it really is Webex."
            )

    # -- requests -----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Callable[[], Mapping[str, Any]] | None = None,
        stream: bool = False,
        expect_json: bool = True,
    ) -> ApiResponse:
        """Send a request and return the parsed answer, applying the retry policy.

        ``files`` is a factory called once per attempt (so that file objects are re-opened or
        rewound when a request is resent). ``expect_json=False`` skips body parsing (HEAD,
        downloads). Raises :class:`ApiError` subclasses, :class:`TransportError`,
        :class:`MalformedResponseError` or :class:`ValueError` (untrusted URL)."""
        method = method.upper()
        if _ABSOLUTE_RE.match(path):
            url = path
            self.check_trusted(url)
        else:
            url = f"{self.base_url}/{path.lstrip('/')}"  # as url() does
            # SECURITY: same answer as check_trusted(url), see _base_is_trusted().
            if not self._base_is_trusted():
                self.check_trusted(url)  # raises, naming the host
        query = clean_params(params)
        failures = 0
        waited = 0.0
        refreshed = False
        while True:
            try:
                response = self._send(method, url, query, json_body, data, files, stream)
            except TransportError as exc:
                if self.retry.may_retry_failure(method, failures):
                    delay = self.retry.backoff(failures)
                    failures += 1
                    logger.warning(
                        "Webex %s %s failed (%s); retry %d in %.2fs",
                        method,
                        _path(url),
                        type(exc).__name__,
                        failures,
                        delay,
                    )
                    self.retry.sleep(delay)
                    continue
                raise
            status = response.status_code
            if status < 400 and not stream:
                # Requests are always sent streamed so that a body cut off mid-way surfaces
                # here, with the status and tracking id known, instead of inside requests.
                try:
                    response.content  # noqa: B018 - reads and caches the whole body
                except requests.RequestException as exc:
                    response.close()
                    if self.retry.may_retry_failure(method, failures):
                        delay = self.retry.backoff(failures)
                        failures += 1
                        logger.warning(
                            "Webex %s %s: body cut off; retry %d in %.2fs",
                            method,
                            _path(url),
                            failures,
                            delay,
                        )
                        self.retry.sleep(delay)
                        continue
                    raise _malformed(response, f"body cut off ({type(exc).__name__})") from exc
            if status < 400:
                return self._success(response, expect_json=expect_json, stream=stream)
            error = error_for_response(response)
            response.close()
            if isinstance(error, UnauthorizedError) and self.on_unauthorized and not refreshed:
                refreshed = True
                new_token = self.on_unauthorized()
                if new_token and new_token != self._token:
                    logger.info(
                        "Webex %s %s: 401, retrying once with a refreshed token", method, _path(url)
                    )
                    _check_token(new_token)
                    self._token = new_token
                    self._auth = _BearerAuth(new_token)
                    continue
                raise error
            if isinstance(error, RetryLaterError):
                wait = self.retry.rate_limit_wait(error.retry_after, waited)
                if wait is not None:
                    waited += wait
                    logger.warning(
                        "Webex %s %s: %d, waiting %.1fs (tracking id %s)",
                        method,
                        _path(url),
                        status,
                        wait,
                        error.tracking_id,
                    )
                    self.retry.sleep(wait)
                    continue
                raise error
            if status >= 500 and self.retry.may_retry_failure(method, failures):
                delay = self.retry.backoff(failures)
                failures += 1
                logger.warning(
                    "Webex %s %s: %d; retry %d in %.2fs (tracking id %s)",
                    method,
                    _path(url),
                    status,
                    failures,
                    delay,
                    error.tracking_id,
                )
                self.retry.sleep(delay)
                continue
            raise error

    def _send_settings(self, url: str) -> dict[str, Any]:
        """proxies / verify / cert for ``url``, as ``requests.Session.request`` would merge
        them, computed once per origin.

        ``Session.request`` re-reads every environment variable (proxies, ``NO_PROXY``, CA
        bundles) on each call: measured at about 40% of a call's cost. We talk to one or two
        origins, so the merge is done once per origin and kept: proxy variables changed after
        the first request to an origin are not seen by this client (build a new one)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        settings = self._send_settings_cache.get(key)
        if settings is None:
            merged: dict[str, Any] = self.session.merge_environment_settings(  # type: ignore[assignment]
                url,
                self._proxies or {},
                True,
                None if self._verify is True else self._verify,
                None,
            )
            merged.pop("stream", None)
            settings = self._send_settings_cache[key] = merged
        return settings

    def _request(self, method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        """``session.request`` without its per-call environment scan (see _send_settings)."""
        prepared = self.session.prepare_request(
            requests.Request(
                method=method.upper(),
                url=url,
                headers=kwargs["headers"],
                files=kwargs.get("files"),
                data=kwargs.get("data"),
                params=kwargs.get("params"),
                auth=kwargs["auth"],
            )
        )
        return self.session.send(
            prepared,
            timeout=kwargs["timeout"],
            allow_redirects=False,
            stream=True,
            **self._send_settings(url),
        )

    def _send(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        json_body: Any,
        data: Any,
        files: Callable[[], Mapping[str, Any]] | None,
        stream: bool,
    ) -> requests.Response:
        kwargs: dict[str, Any] = {
            "params": params,
            "timeout": self.timeout,
            "allow_redirects": False,
            "stream": True,  # bodies are read by request(), see there
            "headers": self._headers(json_body is not None, stream),
            "auth": self._auth,
        }
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body).encode("utf-8")
        elif data is not None:
            kwargs["data"] = data
        if files is not None:
            kwargs["files"] = files()
        hops = 0
        while True:
            try:
                response = self._request(method, url, kwargs)
            except requests.Timeout as exc:
                raise TransportError(
                    f"Timed out talking to Webex ({method} {_path(url)})",
                    is_timeout=True,
                    method=method,
                    url=_path(url),
                ) from exc
            except requests.RequestException as exc:
                raise TransportError(
                    f"Could not reach Webex ({method} {_path(url)}): {type(exc).__name__}",
                    method=method,
                    url=_path(url),
                ) from exc
            if logger.isEnabledFor(logging.DEBUG):  # the arguments cost a URL parse
                logger.debug(
                    "Webex %s %s -> %d (tracking id %s)",
                    method,
                    _path(url),
                    response.status_code,
                    tracking_id_of(response),
                )
            if response.status_code not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            if not location:
                return response
            hops += 1
            target = urljoin(url, location)
            response.close()
            if hops > MAX_REDIRECTS:
                raise TransportError(
                    f"Too many redirects from Webex ({method} {_path(url)})",
                    method=method,
                    url=_path(url),
                )
            # SECURITY: a redirect never carries the token to a host we would not send it to.
            if not self.is_trusted(target):
                raise ValueError(
                    f"Webex redirected to untrusted host {urlsplit(target).hostname!r}; "
                    "not following it with the access token."
                )
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method not in ("GET", "HEAD")
            ):
                method = "GET"
                kwargs.pop("data", None)
                kwargs.pop("files", None)
            url = target
            kwargs["params"] = None  # the Location carries its own query

    def _headers(self, is_json: bool, stream: bool) -> dict[str, str]:
        """The request headers (one shared dict per combination: requests merges them into a
        new dict of its own and never changes the one passed in)."""
        key = (self.user_agent, is_json, stream)
        headers = self._header_cache.get(key)
        if headers is None:
            headers = {
                "User-Agent": self.user_agent,
                "Accept": "*/*" if stream else "application/json",
            }
            if is_json:
                headers["Content-Type"] = "application/json; charset=utf-8"
            if len(self._header_cache) > 16:  # user_agent reassigned again and again
                self._header_cache.clear()
            self._header_cache[key] = headers
        return headers

    def _success(
        self, response: requests.Response, *, expect_json: bool, stream: bool
    ) -> ApiResponse:
        tid = tracking_id_of(response)
        if stream or not expect_json:
            return ApiResponse(None, tid, response)
        if response.status_code == 204:
            return ApiResponse(None, tid, response)
        try:
            content = response.content
        except requests.RequestException as exc:
            # body cut off mid-way (connection dropped, ChunkedEncodingError ...)
            raise _malformed(response, f"body could not be read ({type(exc).__name__})") from exc
        if not content or content.isspace():  # not .strip(): no copy of a big page
            return ApiResponse(None, tid, response)
        try:
            data = json.loads(content)
        except ValueError as exc:
            ctype = response.headers.get("Content-Type", "unknown content type")
            raise _malformed(response, f"body is not valid JSON ({ctype})") from exc
        if isinstance(data, dict):
            tid = tracking_id_of(response, data) if "trackingId" in data else tid
        return ApiResponse(data, tid, response)


_ABSOLUTE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")


def _check_token(token: object) -> None:
    """A token must be printable ASCII without spaces. SECURITY: otherwise requests would
    refuse the header with an error that quotes its value, i.e. the token, into tracebacks."""
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise ValueError(
            "access_token must be a non-empty string of printable ASCII without whitespace "
            "(check for a trailing newline where it was read from)"
        )


def _path(url: str) -> str:
    # Logs and errors carry the path only: query strings may hold e-mail addresses.
    return urlsplit(url).path


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values; booleans as Webex expects them (``true``/``false``); datetimes as
    ISO-8601 UTC; lists comma-joined (``mentionedPeople=me,<id>``)."""
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            # Webex wants ISO-8601 UTC; a naive datetime is taken as UTC.
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            out[key] = (
                aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        elif isinstance(value, list | tuple | set | frozenset):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = value
    return out or None
