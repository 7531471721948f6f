"""Shared plumbing of the resource classes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias, TypeVar
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


#: A query parameter value: None leaves the parameter out, booleans go as ``true``/``false``,
#: datetimes as ISO-8601 UTC, sequences comma-joined (see ``transport.clean_params``).
QueryValue: TypeAlias = str | int | float | bool | datetime | Sequence[str] | None

#: Query parameters a method does not name yet (``extra_params=``), by their Webex
#: (camelCase) names, e.g. ``{"partial": True}``.
ExtraParams: TypeAlias = Mapping[str, QueryValue]

#: Body fields a method does not name yet (``extra_body=``), by their Webex (camelCase)
#: names; values are JSON values and are sent as given (``None`` is sent as ``null``).
ExtraBody: TypeAlias = Mapping[str, Any]


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body from keyword arguments, dropping None values."""
    return {k: v for k, v in fields.items() if v is not None}


def query(
    named: Mapping[str, QueryValue] | None, extra: ExtraParams | None
) -> dict[str, QueryValue] | None:
    """The named query parameters, then ``extra`` merged after them: an extra key replaces a
    named one (``None`` there drops it). Forward compatibility: Webex adds parameters often,
    and a caller should not have to wait for a release to send one."""
    if not extra:
        return dict(named) if named else None
    if not isinstance(extra, Mapping):
        raise TypeError("extra_params must be a mapping of Webex parameter names to values")
    merged: dict[str, QueryValue] = dict(named or {})
    merged.update(extra)
    return merged


def merge_body(named: Mapping[str, Any], extra: ExtraBody | None) -> dict[str, Any]:
    """The named body fields, then ``extra`` merged after them (an extra key replaces a named
    one; values are sent as given)."""
    merged = dict(named)
    if extra:
        if not isinstance(extra, Mapping):
            raise TypeError("extra_body must be a mapping of Webex field names to values")
        merged.update(extra)
    return merged


class Resource:
    """Base of the resource objects hanging off :class:`WebexClient`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _model(self, cls: type[M], result: ApiResponse) -> M:
        # The body dict is ours alone (fresh from json.loads): kept as ``.raw``, not copied.
        return cls._from_owned_json(result.json_object, result.tracking_id)

    def _get(
        self,
        cls: type[M],
        path: str,
        params: Mapping[str, Any] | None = None,
        extra_params: ExtraParams | None = None,
    ) -> M:
        return self._model(
            cls, self._transport.request("GET", path, params=query(params, extra_params))
        )

    def _post(
        self,
        cls: type[M],
        path: str,
        json_body: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> M:
        return self._model(
            cls,
            self._transport.request(
                "POST",
                path,
                json_body=merge_body(json_body, extra_body),
                params=query(params, extra_params),
            ),
        )

    def _put(
        self,
        cls: type[M],
        path: str,
        json_body: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> M:
        return self._model(
            cls,
            self._transport.request(
                "PUT",
                path,
                json_body=merge_body(json_body, extra_body),
                params=query(params, extra_params),
            ),
        )

    def _delete(self, path: str, extra_params: ExtraParams | None = None) -> str | None:
        """DELETE; returns the tracking id."""
        return self._transport.request("DELETE", path, params=query(None, extra_params)).tracking_id

    def _list(
        self,
        cls: type[M],
        path: str,
        params: Mapping[str, Any] | None = None,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[M]:
        # Items are dicts fresh from json.loads that only the page holds: kept as ``.raw``
        # without a copy. (PaginatedList passes only dict items to the factory.) The extra
        # parameters join the named ones, so they are re-applied to next links alike.
        return PaginatedList(
            self._transport, path, query(params, extra_params), cls._from_owned_json
        )
