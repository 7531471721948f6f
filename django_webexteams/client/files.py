"""File helpers: local uploads for ``messages.create(files=[...])``, ``Content-Disposition``
parsing for ``contents.info``/``download``, and :class:`FileInfo`.

Webex facts: one file per message; a URL (Webex fetches it) or a multipart upload in the
form field ``files``; at most 100 MB.
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any
from urllib.parse import unquote

__all__ = [
    "MAX_UPLOAD_BYTES",
    "FileInfo",
    "FileInput",
    "Upload",
    "is_url",
    "parse_content_disposition",
    "prepare_file",
    "safe_filename",
]

MAX_UPLOAD_BYTES = 100 * 1024 * 1024

FileInput = str | os.PathLike[str] | bytes | IO[bytes] | tuple[str, bytes | IO[bytes], str | None]


def is_url(value: str) -> bool:
    """Whether ``value`` is an ``http(s)://`` URL with a host (the scheme in any case, as
    RFC 3986 allows: ``HTTPS://`` is a URL, not a file name)."""
    scheme, sep, rest = value.partition("://")
    return bool(sep) and scheme.lower() in ("http", "https") and rest[:1] not in ("", "/")


@dataclass(frozen=True)
class FileInfo:
    """What ``HEAD /contents/{id}`` tells about a file."""

    filename: str | None
    content_type: str | None
    size: int | None
    tracking_id: str | None = None


class Upload:
    """A local file to send as multipart ``files``. ``open()`` gives the requests ``files``
    tuple for one attempt (re-opened or rewound for each), ``close()`` releases what it
    opened."""

    def __init__(
        self, filename: str, source: Path | bytes | IO[bytes], content_type: str | None
    ) -> None:
        self.filename = filename
        self.content_type = (
            content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        self._source = source
        self._opened: list[IO[bytes]] = []
        self._start: int | None = None
        if not isinstance(source, Path | bytes):
            try:
                self._start = source.tell()
            except (OSError, AttributeError, ValueError):
                self._start = None

    def __repr__(self) -> str:
        return f"<Upload {self.filename!r} {self.content_type}>"

    def open(self) -> tuple[str, bytes | IO[bytes], str]:
        source = self._source
        if isinstance(source, Path):
            handle = source.open("rb")
            self._opened.append(handle)
            return (self.filename, handle, self.content_type)
        if isinstance(source, bytes):
            return (self.filename, source, self.content_type)
        if self._start is not None:
            source.seek(self._start)
        return (self.filename, source, self.content_type)

    def close(self) -> None:
        while self._opened:
            self._opened.pop().close()


def safe_filename(name: str | None, default: str = "download") -> str:
    """A file name safe to create in a directory: no directory parts (``../``, ``C:\\``),
    no control characters, not empty or a dot name. SECURITY: names come from the remote
    ``Content-Disposition`` header and must not choose where we write."""
    if not name:
        return default
    name = PureWindowsPath(PurePosixPath(name).name).name
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().strip(".")
    return name[:255] or default


def parse_content_disposition(value: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` header. ``filename*`` (RFC 5987/6266,
    ``UTF-8''na%C3%AFve.txt``) wins over ``filename``. Returns the name as sent (use
    :func:`safe_filename` before using it as a path)."""
    if not value:
        return None
    params: dict[str, str] = {}
    for match in re.finditer(
        r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', ";" + value
    ):
        key = match.group(1).lower()
        raw = match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(key, raw)
    extended = params.get("filename*")
    if extended:
        charset, sep, rest = extended.partition("'")
        if sep:
            _lang, sep2, encoded = rest.partition("'")
            if sep2:
                try:
                    codecs.lookup(charset or "utf-8")
                    return unquote(encoded, encoding=charset or "utf-8", errors="strict")
                except (LookupError, UnicodeDecodeError):
                    pass  # unknown charset or bad bytes: fall back to plain filename
    return params.get("filename") or None


def _size_of(source: Path | bytes | IO[bytes]) -> int | None:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, Path):
        return source.stat().st_size
    try:
        return os.fstat(source.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return None


def prepare_file(item: Any) -> str | Upload:
    """Turn one ``files`` item into a URL (Webex fetches it) or an :class:`Upload`.

    Accepted: an ``http(s)://`` URL string; a local file as :class:`os.PathLike` (such as
    :class:`pathlib.Path`); bytes; a binary file object;
    ``(filename, bytes_or_fileobj, content_type_or_None)``. Raises :class:`ValueError` for
    anything else (a ``str`` that is not a URL included), a missing file or one over 100 MB.

    Security: a string is only ever a URL, never a path. Apps pass on "file URLs" from their
    users; if a string could name a local file, ``"/proc/self/environ"`` (the encryption
    keys, the bot token) would be uploaded into a space. Reading a local file takes a
    ``Path`` or an open file, which only the app's own code makes."""
    filename: str
    content_type: str | None = None
    source: Path | bytes | IO[bytes]
    if isinstance(item, str):
        if is_url(item):
            return item
        raise ValueError(
            "a file given as a string must be an http(s):// URL (Webex fetches it); to upload "
            "a local file pass a pathlib.Path or an open binary file: strings are never read "
            "as paths"
        )
    if isinstance(item, tuple):
        if len(item) not in (2, 3) or not isinstance(item[0], str):
            raise ValueError("a file tuple is (filename, bytes or file object, content_type)")
        filename = item[0]
        content_type = item[2] if len(item) == 3 else None
        data = item[1]
        if isinstance(data, bytearray | memoryview):
            data = bytes(data)
        if not isinstance(data, bytes) and not hasattr(data, "read"):
            raise ValueError("a file tuple's second item must be bytes or a binary file object")
        source = data
    elif isinstance(item, os.PathLike):
        path = Path(item)
        if not path.is_file():
            raise ValueError(f"file to upload not found: {os.fspath(path)!r}")
        filename, source = path.name, path
    elif isinstance(item, bytes | bytearray | memoryview):
        filename, source = "file", bytes(item)
    elif hasattr(item, "read"):
        if isinstance(item.read(0), str):
            raise ValueError("open the file in binary mode ('rb') to upload it")
        filename = os.path.basename(str(getattr(item, "name", "") or "")) or "file"
        source = item
    else:
        raise ValueError(
            "files items must be a URL, a pathlib.Path, bytes, a binary file object or "
            f"(filename, data, content_type); got {type(item).__name__}"
        )
    size = _size_of(source)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise ValueError(f"Webex accepts files up to 100 MB; this one has {size} bytes")
    return Upload(safe_filename(filename, "file"), source, content_type)
