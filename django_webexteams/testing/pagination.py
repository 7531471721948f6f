"""``Link: <...>; rel="next"`` pagination with an opaque cursor, as Webex does it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from .errors import bad_request
from .http import Request

T = TypeVar("T")


def page_size(req: Request, default: int, limit: int) -> int:
    """The requested ``max``: 400 when not a positive integer, clamped to ``limit``."""
    raw = req.arg("max")
    if raw is None:
        return default
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):
        raise bad_request(f"Invalid value for max: {raw!r}") from None
    if value < 1:
        raise bad_request("max must be a positive number")
    # Webex clamps a max above the endpoint's limit instead of failing.
    return min(value, limit)


def _encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        return data
    except ValueError:
        raise bad_request("Invalid cursor") from None


def paginate(
    req: Request,
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    default: int = 100,
    limit: int = 1000,
    quirks: Any = None,
) -> tuple[list[T], dict[str, str]]:
    """Slice ``items`` (already filtered and ordered) for this request.

    The cursor remembers the id of the last item served, so items created between two pages
    do not shift the next page (plus the offset, in case that item was deleted meanwhile).
    Returns the page and the headers to add (``Link`` when there is a next page).
    """
    size = page_size(req, default, limit)
    start = 0
    cursor = req.arg("cursor")
    if cursor:
        data = _decode_cursor(cursor)
        after = data.get("after")
        keys = [key(i) for i in items]
        if isinstance(after, str) and after in keys:
            start = keys.index(after) + 1
        else:
            start = int(data.get("offset", 0))
    page = list(items[start : start + size])
    headers: dict[str, str] = {}
    if start + size < len(items) and page:
        params = [(k, v) for k, vs in req.query.items() for v in vs if k not in ("cursor", "max")]
        if quirks is not None and getattr(quirks, "next_link_drops_filters", False):
            # Known service fault: the next link loses the original filters.
            params = []
        max_value = "null" if quirks is not None and quirks.next_link_max_null else str(size)
        params.append(("max", max_value))
        params.append(("cursor", _encode_cursor({"after": key(page[-1]), "offset": start + size})))
        url = f"{req.base_url}{req.path}?{urlencode(params)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return page, headers
