"""``/organizations`` (admin)."""

from __future__ import annotations

from ..models import Organization
from ..pagination import PaginatedList
from ._base import ExtraParams, Resource, seg


class OrganizationsResource(Resource):
    def list(self, *, extra_params: ExtraParams | None = None) -> PaginatedList[Organization]:
        """``GET /organizations``."""
        return self._list(Organization, "/organizations", None, extra_params)

    def get(self, org_id: str, *, extra_params: ExtraParams | None = None) -> Organization:
        """``GET /organizations/{orgId}``."""
        return self._get(Organization, f"/organizations/{seg(org_id)}", None, extra_params)

    def delete(self, org_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /organizations/{orgId}``: deletes a whole (partner-managed customer)
        organization. Irreversible. Returns the tracking id."""
        return self._delete(f"/organizations/{seg(org_id)}", extra_params)
