"""``/contents/{id}``: file metadata (HEAD) and streamed download (GET).

Not in the OpenAPI specs (Webex documents it in the Messages guide): ``message.files`` holds
``https://webexapis.com/v1/contents/{id}`` URLs; HEAD gives ``Content-Disposition``,
``Content-Type`` and ``Content-Length``; GET with the bearer token gives the bytes. While
Webex scans a new file it answers 423 with ``Retry-After`` (raised as :class:`LockedError`,
or waited for under ``RetryPolicy(wait_on_rate_limit=True)``, like 429); 410 means the file
was infected; 428 unscannable (pass ``allow_unscannable=True`` to get it anyway).

SECURITY: a URL on a host that is not the API's (or a known Webex API host) raises
:class:`ValueError` before any request: the token must never go to a third party.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

import requests

from ..errors import MalformedResponseError, tracking_id_of
from ..files import FileInfo, parse_content_disposition, safe_filename
from ._base import ExtraParams, Resource, query, seg

CHUNK_SIZE = 64 * 1024


def _info(response: requests.Response) -> FileInfo:
    length = response.headers.get("Content-Length")
    size = int(length) if length and length.strip().isdigit() else None
    ctype = response.headers.get("Content-Type")
    return FileInfo(
        filename=parse_content_disposition(response.headers.get("Content-Disposition")),
        content_type=ctype.split(";", 1)[0].strip() if ctype else None,
        size=size,
        tracking_id=tracking_id_of(response),
    )


def _params(allow_unscannable: bool, extra: ExtraParams | None) -> dict[str, Any] | None:
    return query({"allow": "unscannable"} if allow_unscannable else None, extra)


class ContentsResource(Resource):
    def _url(self, url_or_id: str) -> str:
        if not isinstance(url_or_id, str) or not url_or_id:
            raise ValueError("pass a file URL or a content id")
        if "://" in url_or_id:
            self._transport.check_trusted(url_or_id)
            return url_or_id
        return f"/contents/{seg(url_or_id)}"

    def info(
        self,
        url_or_id: str,
        *,
        allow_unscannable: bool = False,
        extra_params: ExtraParams | None = None,
    ) -> FileInfo:
        """``HEAD`` a file: name (``Content-Disposition``, ``filename*`` preferred), content
        type and size."""
        result = self._transport.request(
            "HEAD",
            self._url(url_or_id),
            params=_params(allow_unscannable, extra_params),
            expect_json=False,
        )
        return _info(result.response)

    def download(
        self,
        url_or_id: str,
        dest: str | os.PathLike[str] | IO[bytes],
        *,
        allow_unscannable: bool = False,
        chunk_size: int = CHUNK_SIZE,
        extra_params: ExtraParams | None = None,
    ) -> FileInfo:
        """Stream a file to ``dest``: a writable binary file object, a file path, or an
        existing directory (the file is then named after ``Content-Disposition``, reduced to a
        safe base name). Written to a temporary file first and renamed when complete, so a
        failed download leaves nothing half-written at ``dest``. Returns the
        :class:`FileInfo` (``size`` = bytes written)."""
        url = self._url(url_or_id)
        result = self._transport.request(
            "GET",
            url,
            params=_params(allow_unscannable, extra_params),
            stream=True,
            expect_json=False,
        )
        response = result.response
        info = _info(response)
        try:
            if isinstance(dest, str | os.PathLike):
                target = Path(dest)
                if target.is_dir():
                    target = target / safe_filename(info.filename)
                written = self._to_path(response, target, chunk_size)
            else:
                written = self._copy(response, dest, chunk_size)
        finally:
            response.close()
        if info.size is not None and written != info.size:
            raise self._truncated(response, f"got {written} of {info.size} bytes")
        return FileInfo(info.filename, info.content_type, written, info.tracking_id)

    def _to_path(self, response: requests.Response, target: Path, chunk_size: int) -> int:
        fd, tmp = tempfile.mkstemp(prefix=".webex-download-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                written = self._copy(response, handle, chunk_size)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return written

    def _copy(self, response: requests.Response, out: IO[bytes], chunk_size: int) -> int:
        written = 0
        try:
            for chunk in response.iter_content(chunk_size=chunk_size):
                if chunk:
                    out.write(chunk)
                    written += len(chunk)
        except requests.RequestException as exc:
            raise self._truncated(response, f"connection lost ({type(exc).__name__})") from exc
        return written

    @staticmethod
    def _truncated(response: requests.Response, why: str) -> MalformedResponseError:
        tid = tracking_id_of(response)
        return MalformedResponseError(
            response.status_code,
            f"Truncated file download from Webex (HTTP {response.status_code}, tracking id "
            f"{tid or 'unknown'}): {why}",
            tracking_id=tid,
            response=response,
            method=response.request.method,
            url=response.url,
        )
