"""``/memberships`` (who is in which space)."""

from __future__ import annotations

from ..models import Membership
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, seg


class MembershipsResource(Resource):
    def list(
        self,
        *,
        room_id: str | None = None,
        person_id: str | None = None,
        person_email: str | None = None,
        max: int | None = None,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Membership]:
        """``GET /memberships``. Without ``room_id`` lists the token's own memberships;
        ``person_id``/``person_email`` filter only together with ``room_id``."""
        return self._list(
            Membership,
            "/memberships",
            {
                "roomId": room_id,
                "personId": person_id,
                "personEmail": person_email,
                "max": max,
            },
            extra_params,
        )

    def create(
        self,
        room_id: str,
        person_id: str | None = None,
        person_email: str | None = None,
        is_moderator: bool = False,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Membership:
        """``POST /memberships``: add a person by id or e-mail (exactly one)."""
        if (person_id is None) == (person_email is None):
            raise ValueError("pass exactly one of person_id or person_email")
        return self._post(
            Membership,
            "/memberships",
            body(
                roomId=room_id,
                personId=person_id,
                personEmail=person_email,
                isModerator=is_moderator,
            ),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def get(self, membership_id: str, *, extra_params: ExtraParams | None = None) -> Membership:
        """``GET /memberships/{membershipId}``."""
        return self._get(Membership, f"/memberships/{seg(membership_id)}", None, extra_params)

    def update(
        self,
        membership_id: str,
        *,
        is_moderator: bool,
        is_room_hidden: bool = False,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Membership:
        """``PUT /memberships/{membershipId}``; Webex requires both flags."""
        return self._put(
            Membership,
            f"/memberships/{seg(membership_id)}",
            {
                "isModerator": is_moderator,
                "isRoomHidden": is_room_hidden,
            },
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, membership_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /memberships/{membershipId}``; returns the tracking id."""
        return self._delete(f"/memberships/{seg(membership_id)}", extra_params)
