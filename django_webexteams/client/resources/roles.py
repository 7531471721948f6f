"""``/roles`` (admin)."""

from __future__ import annotations

from ..models import Role
from ..pagination import PaginatedList
from ._base import Resource, seg


class RolesResource(Resource):
    def list(self) -> PaginatedList[Role]:
        """``GET /roles``."""
        return self._list(Role, "/roles")

    def get(self, role_id: str) -> Role:
        """``GET /roles/{roleId}``."""
        return self._get(Role, f"/roles/{seg(role_id)}")
