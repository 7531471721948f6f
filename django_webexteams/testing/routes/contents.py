"""/contents/{id}: file bytes (GET) and file info (HEAD), for members of the file's room."""

from __future__ import annotations

from typing import Any

from ..errors import WebexError, not_found
from ..http import Response, content_disposition
from . import router
from .base import Ctx


@router.route("GET", "/contents/{id}", spec_path="")
def get_content(ctx: Ctx) -> Any:
    f = ctx.state.files.get(ctx.params["id"])
    if f is None or (f.room_id and ctx.state.membership_of(ctx.me.id, f.room_id) is None):
        raise not_found("Could not find a file with provided ID.")
    if f.scan_state == "scanning":
        raise WebexError(
            423,
            "File is being scanned for malware; retry later.",
            headers={"Retry-After": str(f.scan_retry_after)},
        )
    if f.scan_state == "infected":
        raise WebexError(410, "The file was found to be infected and is not available.")
    if f.scan_state == "unscannable" and ctx.req.arg("allow") != "unscannable":
        raise WebexError(
            428, "The file could not be scanned; add ?allow=unscannable to download it anyway."
        )
    headers = {
        "Content-Disposition": content_disposition(f.filename),
        "Content-Length": str(len(f.data)),
    }
    body = b"" if ctx.req.method == "HEAD" else f.data
    return Response(200, body, headers, content_type=f.content_type)
