"""/contents/{id}: file bytes (GET) and file info (HEAD), for members of the file's room."""

from __future__ import annotations

from typing import Any

from ..errors import not_found
from ..http import Response, content_disposition
from . import router
from .base import Ctx


@router.route("GET", "/contents/{id}", spec_path="")
def get_content(ctx: Ctx) -> Any:
    f = ctx.state.files.get(ctx.params["id"])
    if f is None or (f.room_id and ctx.state.membership_of(ctx.me.id, f.room_id) is None):
        raise not_found("Could not find a file with provided ID.")
    headers = {
        "Content-Disposition": content_disposition(f.filename),
        "Content-Length": str(len(f.data)),
    }
    body = b"" if ctx.req.method == "HEAD" else f.data
    return Response(200, body, headers, content_type=f.content_type)
