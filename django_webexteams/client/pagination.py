"""Lazy pagination over Webex list endpoints.

Webex pages with ``Link: <https://webexapis.com/v1/rooms?max=100&cursor=...>; rel="next"``
(RFC 8288). Quirks the official SDK works around, and so do we:
- next links with ``max=null``: the original ``max`` is put back (or the parameter dropped);
- next links that drop the original filters (e.g. ``mentionedPeople``, bots then get 403):
  every original query parameter missing from the next link is re-applied.
Only one page is held at a time, so memory stays flat however long the list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from .errors import MalformedResponseError, tracking_id_of
from .transport import clean_params

if TYPE_CHECKING:
    from .transport import ApiResponse, Transport

__all__ = ["Page", "PaginatedList", "next_link", "parse_link_header"]

T = TypeVar("T")

logger = logging.getLogger("django_webexteams.client")

#: ``max`` values Webex has been seen to echo back instead of the number sent
_NULL_VALUES = frozenset({"null", "none", "undefined", ""})


def parse_link_header(value: str | None) -> list[tuple[str, dict[str, str]]]:
    """Parse an RFC 8288 ``Link`` header into ``[(target, {param: value})]``.

    Handles several links in one header, commas and semicolons inside ``<...>``, quoted and
    unquoted parameter values (with backslash escapes) and parameters without a value.
    Parameter names are lower-cased; malformed pieces are skipped, never raised on."""
    links: list[tuple[str, dict[str, str]]] = []
    if not value:
        return links
    i, n = 0, len(value)
    while i < n:
        start = value.find("<", i)
        if start < 0:
            break
        end = value.find(">", start + 1)
        if end < 0:
            break
        target = value[start + 1 : end].strip()
        i = end + 1
        params: dict[str, str] = {}
        while i < n:
            while i < n and value[i] in " \t":
                i += 1
            if i >= n or value[i] != ";":
                break
            i += 1
            while i < n and value[i] in " \t":
                i += 1
            name_start = i
            while i < n and value[i] not in "=;, \t":
                i += 1
            name = value[name_start:i].lower()
            while i < n and value[i] in " \t":
                i += 1
            param_value = ""
            if i < n and value[i] == "=":
                i += 1
                while i < n and value[i] in " \t":
                    i += 1
                if i < n and value[i] == '"':
                    i += 1
                    chars: list[str] = []
                    while i < n and value[i] != '"':
                        if value[i] == "\\" and i + 1 < n:
                            i += 1
                        chars.append(value[i])
                        i += 1
                    i += 1  # closing quote
                    param_value = "".join(chars)
                else:
                    val_start = i
                    while i < n and value[i] not in ";, \t":
                        i += 1
                    param_value = value[val_start:i]
            if name and name not in params:  # RFC 8288: first occurrence wins
                params[name] = param_value
        links.append((target, params))
    return links


def _same_url(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.netloc.lower(), pa.path, sorted(parse_qsl(pa.query))) == (
        pb.scheme,
        pb.netloc.lower(),
        pb.path,
        sorted(parse_qsl(pb.query)),
    )


def next_link(value: str | None) -> str | None:
    """The target of the first link whose ``rel`` includes ``next`` (rel may hold several
    space-separated relation types)."""
    for target, params in parse_link_header(value):
        rels = params.get("rel", "").lower().split()
        if "next" in rels:
            return target
    return None


def reapply_params(url: str, original: Mapping[str, Any] | None) -> str:
    """Put original query parameters back into a next link that dropped them, and repair
    ``max=null``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    original = {k: v for k, v in (original or {}).items() if v is not None}
    present = {k for k, _ in query}
    fixed: list[tuple[str, str]] = []
    for key, value in query:
        if key == "max" and value.strip().lower() in _NULL_VALUES:
            if "max" in original:
                fixed.append(("max", str(original["max"])))
            continue
        fixed.append((key, value))
    for key, value in original.items():
        if key not in present:
            fixed.append((key, str(value)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(fixed), parts.fragment))


@dataclass
class Page(Generic[T]):
    """One page of a list: ``items``, ``has_next``, ``next()`` (the following page, or None),
    ``tracking_id``, ``next_url``, and ``extra``: other top-level fields of the body (e.g.
    ``notFoundIds`` of ``GET /people``)."""

    items: list[T]
    tracking_id: str | None
    next_url: str | None
    _fetch: Callable[[str], Page[T]] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.next_url is not None

    def next(self) -> Page[T] | None:
        """Fetch the next page (a request each time it is called), or None on the last."""
        if self.next_url is None:
            return None
        return self._fetch(self.next_url)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class PaginatedList(Generic[T]):
    """The lazy result of a ``list(...)`` call. Nothing is requested until it is iterated;
    iterating again starts again from the first page. ``.pages()`` yields :class:`Page`
    objects instead of items."""

    def __init__(
        self,
        transport: Transport,
        path: str,
        params: Mapping[str, Any] | None,
        factory: Callable[[dict[str, Any], str | None], T],
        *,
        items_key: str = "items",
    ) -> None:
        self._transport = transport
        self._path = path
        self._params = clean_params(params) or {}
        self._factory = factory
        self._items_key = items_key

    def __repr__(self) -> str:
        return f"<PaginatedList {self._path}>"

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def pages(self) -> Iterator[Page[T]]:
        """Yield pages lazily, following ``rel="next"`` until there is none. A next link may
        lead to an empty page; that is not an error."""
        page: Page[T] | None = self.first_page()
        while page is not None:
            current = page
            page = None  # do not keep the old page alive while fetching the next one
            yield current
            page = current.next()

    def first_page(self) -> Page[T]:
        """Fetch only the first page."""
        return self._page(self._transport.request("GET", self._path, params=self._params))

    def first(self) -> T | None:
        """The first item, or None; fetches one page."""
        items = self.first_page().items
        return items[0] if items else None

    def _fetch(self, url: str) -> Page[T]:
        return self._page(self._transport.request("GET", url))

    def _page(self, result: ApiResponse) -> Page[T]:
        body = result.data
        raw_items = body.get(self._items_key) if isinstance(body, dict) else None
        if body is None:
            raw_items = []
        if not isinstance(raw_items, list):
            resp = result.response
            tid = tracking_id_of(resp)
            raise MalformedResponseError(
                resp.status_code,
                f"Malformed response from Webex (HTTP {resp.status_code}, tracking id "
                f"{tid or 'unknown'}): list response without an '{self._items_key}' array",
                tracking_id=tid,
                response=resp,
                method=resp.request.method,
                url=resp.url,
            )
        items = [
            self._factory(item, result.tracking_id) for item in raw_items if isinstance(item, dict)
        ]
        link = next_link(result.response.headers.get("Link"))
        next_url: str | None = None
        if link:
            # A relative link is resolved against the URL of the page it came from.
            next_url = reapply_params(urljoin(result.response.url, link), self._params)
            if _same_url(next_url, result.response.url):
                # A next link pointing at the page itself would loop forever: stop here.
                logger.warning(
                    "Webex list %s: next link repeats the current page; stopping", self._path
                )
                next_url = None
        extra = {k: v for k, v in body.items() if k != self._items_key} if body else {}
        return Page(
            items=items,
            tracking_id=result.tracking_id,
            next_url=next_url,
            _fetch=self._fetch,
            extra=extra,
        )
