"""``/people``: list, get, me, and the admin operations create/update/delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import Person
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, merge_body, query, seg


class PeopleResource(Resource):
    def me(
        self, *, calling_data: bool | None = None, extra_params: ExtraParams | None = None
    ) -> Person:
        """``GET /people/me``: the token's own person (or bot)."""
        return self._get(Person, "/people/me", {"callingData": calling_data}, extra_params)

    def get(
        self,
        person_id: str,
        *,
        calling_data: bool | None = None,
        extra_params: ExtraParams | None = None,
    ) -> Person:
        """``GET /people/{personId}``."""
        return self._get(
            Person, f"/people/{seg(person_id)}", {"callingData": calling_data}, extra_params
        )

    def list(
        self,
        *,
        email: str | None = None,
        display_name: str | None = None,
        id: str | Sequence[str] | None = None,
        org_id: str | None = None,
        roles: str | Sequence[str] | None = None,
        calling_data: bool | None = None,
        location_id: str | None = None,
        exclude_status: bool | None = None,
        max: int | None = None,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Person]:
        """``GET /people``. Webex requires one of ``email``, ``display_name`` or ``id``
        unless the token is an admin's. ``id`` takes up to 85 ids (joined with commas)."""
        return self._list(
            Person,
            "/people",
            {
                "email": email,
                "displayName": display_name,
                "id": id,
                "orgId": org_id,
                "roles": roles,
                "callingData": calling_data,
                "locationId": location_id,
                "excludeStatus": exclude_status,
                "max": max,
            },
            extra_params,
        )

    def create(
        self,
        emails: Sequence[str],
        *,
        display_name: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        calling_data: bool | None = None,
        min_response: bool | None = None,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
        **fields: Any,
    ) -> Person:
        """``POST /people`` (admin). Further fields of the spec (``phone_numbers``,
        ``licenses``, ``roles``, ``org_id``, ...) go as snake_case keyword arguments;
        ``extra_body`` (Webex names, sent as given) is merged after them."""
        if isinstance(emails, str):
            emails = [emails]
        payload = body(
            emails=list(emails),
            displayName=display_name,
            firstName=first_name,
            lastName=last_name,
            **_camel_fields(fields),
        )
        return self._post(
            Person,
            "/people",
            payload,
            {"callingData": calling_data, "minResponse": min_response},
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def update(
        self,
        person_id: str,
        *,
        display_name: str,
        calling_data: bool | None = None,
        show_all_types: bool | None = None,
        min_response: bool | None = None,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
        **fields: Any,
    ) -> Person:
        """``PUT /people/{personId}`` (admin). Webex replaces the person: pass every field
        to keep (read it with :meth:`get` first). ``display_name`` is required by Webex."""
        payload = body(displayName=display_name, **_camel_fields(fields))
        result = self._transport.request(
            "PUT",
            f"/people/{seg(person_id)}",
            json_body=merge_body(payload, extra_body),
            params=query(
                {
                    "callingData": calling_data,
                    "showAllTypes": show_all_types,
                    "minResponse": min_response,
                },
                extra_params,
            ),
        )
        if result.data is None:  # the spec allows 204 No Content here
            return Person.from_json({"id": person_id}, tracking_id=result.tracking_id)
        return self._model(Person, result)

    def delete(self, person_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /people/{personId}`` (admin). Returns the tracking id."""
        return self._delete(f"/people/{seg(person_id)}", extra_params)


def _camel_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        head, *rest = name.split("_")
        out[head + "".join(p[:1].upper() + p[1:] for p in rest)] = value
    return out
