"""``/organizations`` (admin)."""

from __future__ import annotations

from ..models import Organization
from ..pagination import PaginatedList
from ._base import Resource, seg


class OrganizationsResource(Resource):
    def list(self) -> PaginatedList[Organization]:
        """``GET /organizations``."""
        return self._list(Organization, "/organizations")

    def get(self, org_id: str) -> Organization:
        """``GET /organizations/{orgId}``."""
        return self._get(Organization, f"/organizations/{seg(org_id)}")

    def delete(self, org_id: str) -> str | None:
        """``DELETE /organizations/{orgId}``: deletes a whole (partner-managed customer)
        organization. Irreversible. Returns the tracking id."""
        return self._delete(f"/organizations/{seg(org_id)}")
