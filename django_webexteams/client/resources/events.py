"""``/events`` (compliance events; needs a compliance officer's token)."""

from __future__ import annotations

from datetime import datetime

from ..models import Event
from ..pagination import PaginatedList
from ._base import ExtraParams, Resource, seg


class EventsResource(Resource):
    def list(
        self,
        *,
        resource: str | None = None,
        type: str | None = None,
        actor_id: str | None = None,
        from_: str | datetime | None = None,
        to: str | datetime | None = None,
        service_type: str | None = None,
        max: int | None = None,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Event]:
        """``GET /events``; ``from_``/``to`` take ISO-8601 strings or aware datetimes."""
        return self._list(
            Event,
            "/events",
            {
                "resource": resource,
                "type": type,
                "actorId": actor_id,
                "from": from_,
                "to": to,
                "serviceType": service_type,
                "max": max,
            },
            extra_params,
        )

    def get(self, event_id: str, *, extra_params: ExtraParams | None = None) -> Event:
        """``GET /events/{eventId}``."""
        return self._get(Event, f"/events/{seg(event_id)}", None, extra_params)
