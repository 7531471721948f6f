"""``/roles`` (admin)."""

from __future__ import annotations

from ..models import Role
from ..pagination import PaginatedList
from ._base import ExtraParams, Resource, seg


class RolesResource(Resource):
    def list(self, *, extra_params: ExtraParams | None = None) -> PaginatedList[Role]:
        """``GET /roles``."""
        return self._list(Role, "/roles", None, extra_params)

    def get(self, role_id: str, *, extra_params: ExtraParams | None = None) -> Role:
        """``GET /roles/{roleId}``."""
        return self._get(Role, f"/roles/{seg(role_id)}", None, extra_params)
