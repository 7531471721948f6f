"""Files sent with a message: what ``send_message(file=...)`` accepts (a URL, a path, a file
object, a ``(name, data[, content_type])`` tuple) and Webex's size limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.core.files import File
from django.core.files.base import ContentFile

from django_webexteams.client.files import is_url
from django_webexteams.messaging.errors import InvalidMessageError

__all__ = [
    "MAX_FILE_BYTES",
]


#: Webex: one file per message, at most 100 MB.
MAX_FILE_BYTES = 100 * 1024 * 1024


@dataclass
class _FileSpec:
    """What ``send_message(file=...)`` was given, normalised."""

    name: str
    url: str = ""
    content: File[Any] | None = None
    to_close: IO[Any] | None = None


def _file_spec(file: Any) -> _FileSpec:
    """Accepts what the client accepts: a URL, a ``Path``, a Django ``File`` (an upload), a
    binary file object with a ``name``, or ``(filename, bytes_or_fileobj[, content_type])``."""
    if isinstance(file, list):
        if len(file) != 1:
            raise InvalidMessageError("Webex accepts one file per message; send several messages")
        file = file[0]
    if isinstance(file, tuple):
        if len(file) not in (2, 3) or not isinstance(file[0], str) or not file[0]:
            raise InvalidMessageError("a file tuple is (filename, data[, content_type])")
        name, data = os.path.basename(file[0]), file[1]
        if isinstance(data, bytes | bytearray):
            return _FileSpec(name, content=ContentFile(bytes(data), name=name))
        if hasattr(data, "read"):
            return _FileSpec(name, content=File(data, name=name))
        raise InvalidMessageError("a file tuple's data must be bytes or a binary file object")
    if isinstance(file, str) and is_url(file):
        if len(file) > 255:  # kept in OutboundMessage.file_name (max_length 255)
            raise InvalidMessageError("a file URL may be at most 255 characters long")
        return _FileSpec(os.path.basename(file.split("?", 1)[0]) or "file", url=file)
    if isinstance(file, str):
        # Security: a string is a URL or nothing, never a path (see client.files.prepare_file:
        # a user-supplied "file URL" must not upload /proc/self/environ).
        raise InvalidMessageError(
            "file= as a string must be an http(s):// URL; pass a local file as a "
            "pathlib.Path or an open binary file (strings are never read as paths)"
        )
    if isinstance(file, os.PathLike):
        path = Path(file)
        if not path.is_file():
            raise InvalidMessageError(f"no such file: {path}")
        handle = path.open("rb")
        return _FileSpec(path.name, content=File(handle, name=path.name), to_close=handle)
    if isinstance(file, bytes | bytearray):
        raise InvalidMessageError("bytes need a name: pass file=(filename, data, content_type)")
    if hasattr(file, "read"):
        name = os.path.basename(str(getattr(file, "name", "") or ""))
        if not name:
            raise InvalidMessageError(
                "this file object has no name: pass file=(filename, fileobj, content_type)"
            )
        content = file if isinstance(file, File) else File(file, name=name)
        return _FileSpec(name, content=content)
    raise InvalidMessageError(f"unsupported file argument of type {type(file).__name__}")


def _check_file_size(spec: _FileSpec) -> None:
    if spec.content is None:
        return
    try:
        size = spec.content.size
    except (AttributeError, OSError, TypeError):
        return  # unknown size: Webex will tell
    if size is not None and size > MAX_FILE_BYTES:
        raise InvalidMessageError(f"{spec.name} is {size} bytes; Webex accepts at most 100 MB")
