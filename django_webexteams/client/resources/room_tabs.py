"""``/room/tabs`` (tabs pinned to a space)."""

from __future__ import annotations

from ..models import RoomTab
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, seg


class RoomTabsResource(Resource):
    def list(
        self, room_id: str, *, extra_params: ExtraParams | None = None
    ) -> PaginatedList[RoomTab]:
        """``GET /room/tabs`` of one space."""
        if not room_id:
            raise ValueError("room_id is required")
        return self._list(RoomTab, "/room/tabs", {"roomId": room_id}, extra_params)

    def create(
        self,
        room_id: str,
        content_url: str,
        display_name: str,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> RoomTab:
        """``POST /room/tabs``."""
        return self._post(
            RoomTab,
            "/room/tabs",
            {
                "roomId": room_id,
                "contentUrl": content_url,
                "displayName": display_name,
            },
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def get(self, tab_id: str, *, extra_params: ExtraParams | None = None) -> RoomTab:
        """``GET /room/tabs/{id}``."""
        return self._get(RoomTab, f"/room/tabs/{seg(tab_id)}", None, extra_params)

    def update(
        self,
        tab_id: str,
        *,
        room_id: str,
        content_url: str,
        display_name: str,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> RoomTab:
        """``PUT /room/tabs/{id}``; Webex requires all three fields."""
        return self._put(
            RoomTab,
            f"/room/tabs/{seg(tab_id)}",
            {
                "roomId": room_id,
                "contentUrl": content_url,
                "displayName": display_name,
            },
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, tab_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /room/tabs/{id}``; returns the tracking id."""
        return self._delete(f"/room/tabs/{seg(tab_id)}", extra_params)
