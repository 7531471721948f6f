"""``/teams``."""

from __future__ import annotations

from ..models import Team
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, seg


class TeamsResource(Resource):
    def list(
        self, *, max: int | None = None, extra_params: ExtraParams | None = None
    ) -> PaginatedList[Team]:
        """``GET /teams``."""
        return self._list(Team, "/teams", {"max": max}, extra_params)

    def create(
        self,
        name: str,
        description: str | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Team:
        """``POST /teams`` (also creates the team's General space)."""
        return self._post(
            Team,
            "/teams",
            body(name=name, description=description),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def get(
        self,
        team_id: str,
        *,
        description: str | None = None,
        extra_params: ExtraParams | None = None,
    ) -> Team:
        """``GET /teams/{teamId}``."""
        return self._get(Team, f"/teams/{seg(team_id)}", {"description": description}, extra_params)

    def update(
        self,
        team_id: str,
        *,
        name: str,
        description: str | None = None,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Team:
        """``PUT /teams/{teamId}``; Webex requires ``name``."""
        return self._put(
            Team,
            f"/teams/{seg(team_id)}",
            body(name=name, description=description),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, team_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /teams/{teamId}``; returns the tracking id."""
        return self._delete(f"/teams/{seg(team_id)}", extra_params)
