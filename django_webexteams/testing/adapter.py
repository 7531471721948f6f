"""A requests transport adapter that serves the fake in-process (no sockets).

Mount it on a session (``fake.session()`` does it) for fast tests and for benchmarking the
client's own overhead.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

if TYPE_CHECKING:
    from .fake import FakeWebex


def body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else data
    return b"".join(c.encode() if isinstance(c, str) else c for c in body)


def make_environ(
    method: str, url: str, headers: Mapping[str, str], body: bytes, **extra: Any
) -> dict[str, Any]:
    """A WSGI environ for one request to ``url``."""
    parts = urlsplit(url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(),
        "PATH_INFO": unquote(parts.path),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "HTTP_HOST": parts.netloc,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "",
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in headers.items():
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif name != "CONTENT_LENGTH":
            environ["HTTP_" + name] = value
    environ.update(extra)
    return environ


class FakeWebexAdapter(BaseAdapter):
    """``requests`` adapter answering from ``fake.app`` without the network."""

    def __init__(self, fake: FakeWebex) -> None:
        super().__init__()
        self.fake = fake

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        assert request.url is not None and request.method is not None
        environ = make_environ(
            request.method, request.url, dict(request.headers), body_bytes(request.body)
        )
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = list(self.fake.app(environ, start_response))
        if environ.get("fakewebex.drop"):
            raise requests.exceptions.ConnectionError(
                "Connection aborted: the fake Webex dropped the connection", request=request
            )
        response = requests.Response()
        code, _, reason = captured["status"].partition(" ")
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(captured["headers"])
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(b"".join(chunks))
        response.url = request.url
        response.request = request
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        pass
