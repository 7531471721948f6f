"""``/team/memberships``."""

from __future__ import annotations

from ..models import TeamMembership
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, seg


class TeamMembershipsResource(Resource):
    def list(
        self, team_id: str, *, max: int | None = None, extra_params: ExtraParams | None = None
    ) -> PaginatedList[TeamMembership]:
        """``GET /team/memberships`` of one team."""
        if not team_id:
            raise ValueError("team_id is required")
        return self._list(
            TeamMembership, "/team/memberships", {"teamId": team_id, "max": max}, extra_params
        )

    def create(
        self,
        team_id: str,
        person_id: str | None = None,
        person_email: str | None = None,
        is_moderator: bool = False,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> TeamMembership:
        """``POST /team/memberships``: add a person by id or e-mail (exactly one)."""
        if (person_id is None) == (person_email is None):
            raise ValueError("pass exactly one of person_id or person_email")
        return self._post(
            TeamMembership,
            "/team/memberships",
            body(
                teamId=team_id,
                personId=person_id,
                personEmail=person_email,
                isModerator=is_moderator,
            ),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def get(self, membership_id: str, *, extra_params: ExtraParams | None = None) -> TeamMembership:
        """``GET /team/memberships/{membershipId}``."""
        return self._get(
            TeamMembership, f"/team/memberships/{seg(membership_id)}", None, extra_params
        )

    def update(
        self,
        membership_id: str,
        *,
        is_moderator: bool,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> TeamMembership:
        """``PUT /team/memberships/{membershipId}``."""
        return self._put(
            TeamMembership,
            f"/team/memberships/{seg(membership_id)}",
            {"isModerator": is_moderator},
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, membership_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /team/memberships/{membershipId}``; returns the tracking id."""
        return self._delete(f"/team/memberships/{seg(membership_id)}", extra_params)
