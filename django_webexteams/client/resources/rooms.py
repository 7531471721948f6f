"""``/rooms`` (spaces). The deprecated ``GET /rooms/{id}/meetingInfo`` is not covered."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ..models import Room
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, seg


class RoomsResource(Resource):
    def list(
        self,
        *,
        type: Literal["direct", "group"] | None = None,
        team_id: str | None = None,
        sort_by: Literal["id", "lastactivity", "created"] | None = None,
        org_public_spaces: bool | None = None,
        from_: str | datetime | None = None,
        to: str | datetime | None = None,
        max: int | None = None,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Room]:
        """``GET /rooms``: lazy; ``max`` is the page size (1..1000); ``from_``/``to`` bound
        the creation time (ISO-8601 strings or datetimes)."""
        return self._list(
            Room,
            "/rooms",
            {
                "teamId": team_id,
                "type": type,
                "orgPublicSpaces": org_public_spaces,
                "from": from_,
                "to": to,
                "sortBy": sort_by,
                "max": max,
            },
            extra_params,
        )

    def create(
        self,
        title: str,
        team_id: str | None = None,
        *,
        classification_id: str | None = None,
        is_locked: bool | None = None,
        is_public: bool | None = None,
        description: str | None = None,
        is_announcement_only: bool | None = None,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Room:
        """``POST /rooms``."""
        return self._post(
            Room,
            "/rooms",
            body(
                title=title,
                teamId=team_id,
                classificationId=classification_id,
                isLocked=is_locked,
                isPublic=is_public,
                description=description,
                isAnnouncementOnly=is_announcement_only,
            ),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def get(self, room_id: str, *, extra_params: ExtraParams | None = None) -> Room:
        """``GET /rooms/{roomId}``."""
        return self._get(Room, f"/rooms/{seg(room_id)}", None, extra_params)

    def update(
        self,
        room_id: str,
        *,
        title: str,
        classification_id: str | None = None,
        team_id: str | None = None,
        is_locked: bool | None = None,
        is_public: bool | None = None,
        description: str | None = None,
        is_announcement_only: bool | None = None,
        is_read_only: bool | None = None,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Room:
        """``PUT /rooms/{roomId}``; Webex requires ``title``."""
        return self._put(
            Room,
            f"/rooms/{seg(room_id)}",
            body(
                title=title,
                classificationId=classification_id,
                teamId=team_id,
                isLocked=is_locked,
                isPublic=is_public,
                description=description,
                isAnnouncementOnly=is_announcement_only,
                isReadOnly=is_read_only,
            ),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, room_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /rooms/{roomId}``; returns the tracking id."""
        return self._delete(f"/rooms/{seg(room_id)}", extra_params)
