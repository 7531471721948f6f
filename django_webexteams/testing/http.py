"""A small request/response pair over WSGI environ, shared by the server and the adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, quote

from .errors import WebexError, bad_request

MAX_BODY = 110 * 1024 * 1024  # Webex accepts files up to 100 MB; allow some multipart overhead


@dataclass
class UploadedFile:
    """One multipart file part."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    """The parts of an HTTP request the routes need."""

    method: str
    path: str  # path without the "/v1" prefix, e.g. "/messages"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # "http://host:port/v1" as the caller sees us
    raw_path: str = ""
    query_string: str = ""
    _json: Any = field(default=None, repr=False)
    _form: dict[str, list[str]] | None = field(default=None, repr=False)
    _files: dict[str, list[UploadedFile]] | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = environ.get("PATH_INFO", "/") or "/"
        qs = environ.get("QUERY_STRING", "")
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").lower()] = value
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["content-length"] = environ["CONTENT_LENGTH"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        length = min(max(length, 0), MAX_BODY)
        body = environ["wsgi.input"].read(length) if length else b""
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or (
            f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"
        )
        path = raw_path[3:] if raw_path.startswith("/v1/") or raw_path == "/v1" else raw_path
        return cls(
            method=method,
            path=path or "/",
            query=parse_qs(qs, keep_blank_values=True),
            headers=headers,
            body=body,
            base_url=f"{scheme}://{host}/v1",
            raw_path=raw_path,
            query_string=qs,
        )

    # --- query -------------------------------------------------------------------------------
    def arg(self, name: str) -> str | None:
        """First value of a query parameter (None when absent or empty)."""
        values = self.query.get(name)
        if not values or values[0] == "":
            return None
        return values[0]

    def arg_list(self, name: str) -> list[str]:
        """Values of a repeated or comma-separated query parameter."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def arg_bool(self, name: str) -> bool | None:
        value = self.arg(name)
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            raise bad_request(f"Invalid value for {name}: expected true or false")
        return value.lower() == "true"

    # --- body --------------------------------------------------------------------------------
    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> dict[str, Any]:
        """The JSON object body; 400 when it is not valid JSON or not an object."""
        if self._json is not None:
            return dict(self._json)
        if self.content_type == "multipart/form-data":
            self._json = {k: v[0] for k, v in self.form().items()}
            return dict(self._json)
        if self.content_type == "application/x-www-form-urlencoded":
            self._json = {k: v[0] for k, v in self.form().items()}
            return dict(self._json)
        if not self.body.strip():
            self._json = {}
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebexError(
                400,
                "The request could not be understood by the server due to malformed syntax.",
                f"Malformed JSON body: {type(exc).__name__}",
            ) from None
        if not isinstance(value, dict):
            raise bad_request("The request body must be a JSON object.")
        self._json = value
        return dict(value)

    def form(self) -> dict[str, list[str]]:
        """Form fields (urlencoded or multipart)."""
        if self._form is None:
            if self.content_type == "multipart/form-data":
                self._parse_multipart()
            elif self.content_type == "application/x-www-form-urlencoded":
                try:
                    text = self.body.decode()
                except UnicodeDecodeError:
                    raise bad_request("Form body is not valid UTF-8.") from None
                self._form = parse_qs(text, keep_blank_values=True)
            else:
                self._form = {}
        return self._form or {}

    def files(self) -> dict[str, list[UploadedFile]]:
        """Multipart file parts by field name."""
        if self._files is None:
            self.form()
        return self._files or {}

    def _parse_multipart(self) -> None:
        header = "Content-Type: " + self.headers.get("content-type", "") + "\r\n\r\n"
        try:
            msg: EmailMessage = BytesParser(policy=HTTP).parsebytes(header.encode() + self.body)
        except Exception:
            raise bad_request("Malformed multipart body.") from None
        if not msg.is_multipart():
            raise bad_request("Malformed multipart body.")
        form: dict[str, list[str]] = {}
        files: dict[str, list[UploadedFile]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            raw = part.get_payload(decode=True)
            payload = raw if isinstance(raw, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files.setdefault(str(name), []).append(
                    UploadedFile(
                        filename=filename,
                        content_type=part.get_content_type() or "application/octet-stream",
                        data=payload,
                    )
                )
            else:
                charset = part.get_content_charset() or "utf-8"
                form.setdefault(str(name), []).append(payload.decode(charset, "replace"))
        self._form, self._files = form, files

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


@dataclass
class Response:
    """What a route returns; the app adds TrackingID and serialises."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str -> as-is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."`` with an RFC 5987 fallback for non-ASCII names."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename)}"
    return value
