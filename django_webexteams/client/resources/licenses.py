"""``/licenses`` (admin)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..models import License, LicenseAssignment
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, merge_body, query, seg


class LicensesResource(Resource):
    def list(
        self, org_id: str | None = None, *, extra_params: ExtraParams | None = None
    ) -> PaginatedList[License]:
        """``GET /licenses``."""
        return self._list(License, "/licenses", {"orgId": org_id}, extra_params)

    def get(
        self,
        license_id: str,
        *,
        include_assigned_to: str | None = None,
        next: str | None = None,
        limit: int | None = None,
        extra_params: ExtraParams | None = None,
    ) -> License:
        """``GET /licenses/{licenseId}``; ``include_assigned_to="user"`` adds ``users``
        (paged with the ``next`` token and ``limit`` <= 300)."""
        return self._get(
            License,
            f"/licenses/{seg(license_id)}",
            {
                "includeAssignedTo": include_assigned_to,
                "next": next,
                "limit": limit,
            },
            extra_params,
        )

    def assign_to_user(
        self,
        *,
        licenses: Sequence[Mapping[str, Any]],
        email: str | None = None,
        person_id: str | None = None,
        org_id: str | None = None,
        site_urls: Sequence[Mapping[str, Any]] | None = None,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> LicenseAssignment:
        """``PATCH /licenses/users``: add/remove licenses of one person (by e-mail or id).
        ``licenses`` items: ``{"id": ..., "operation": "add"|"remove", "properties": {...}}``.
        Webex may answer 206 (partial success); check ``.raw``."""
        if email is None and person_id is None:
            raise ValueError("pass email or person_id")
        payload = body(
            email=email,
            personId=person_id,
            orgId=org_id,
            licenses=[dict(x) for x in licenses],
            siteUrls=[dict(x) for x in site_urls] if site_urls is not None else None,
        )
        result = self._transport.request(
            "PATCH",
            "/licenses/users",
            json_body=merge_body(payload, extra_body),
            params=query(None, extra_params),
        )
        return self._model(LicenseAssignment, result)
