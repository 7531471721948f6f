"""Shared plumbing of the resource classes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from ..models import WebexObject
from ..pagination import PaginatedList
from ..transport import ApiResponse, Transport

M = TypeVar("M", bound=WebexObject)

#: characters ``quote(..., safe="")`` never escapes (Webex ids are URL-safe base64)
_UNRESERVED_RE = re.compile(r"[A-Za-z0-9_.~-]+", re.ASCII)


def seg(value: str) -> str:
    """One path segment: ids are URL-safe base64, but never trust that (a ``/`` or ``?`` in an
    id must not change which endpoint is called)."""
    if not isinstance(value, str) or not value:
        raise ValueError("an id must be a non-empty string")
    if _UNRESERVED_RE.fullmatch(value):
        return value  # what quote() would return, without its per-character work
    return quote(value, safe="")


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body from keyword arguments, dropping None values."""
    return {k: v for k, v in fields.items() if v is not None}


class Resource:
    """Base of the resource objects hanging off :class:`WebexClient`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _model(self, cls: type[M], result: ApiResponse) -> M:
        # The body dict is ours alone (fresh from json.loads): kept as ``.raw``, not copied.
        return cls._from_owned_json(result.json_object, result.tracking_id)

    def _get(self, cls: type[M], path: str, params: Mapping[str, Any] | None = None) -> M:
        return self._model(cls, self._transport.request("GET", path, params=params))

    def _post(
        self,
        cls: type[M],
        path: str,
        json_body: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
    ) -> M:
        return self._model(
            cls, self._transport.request("POST", path, json_body=dict(json_body), params=params)
        )

    def _put(
        self,
        cls: type[M],
        path: str,
        json_body: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
    ) -> M:
        return self._model(
            cls, self._transport.request("PUT", path, json_body=dict(json_body), params=params)
        )

    def _delete(self, path: str) -> str | None:
        """DELETE; returns the tracking id."""
        return self._transport.request("DELETE", path).tracking_id

    def _list(
        self, cls: type[M], path: str, params: Mapping[str, Any] | None = None
    ) -> PaginatedList[M]:
        # Items are dicts fresh from json.loads that only the page holds: kept as ``.raw``
        # without a copy. (PaginatedList passes only dict items to the factory.)
        return PaginatedList(self._transport, path, params, cls._from_owned_json)
