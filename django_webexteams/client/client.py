""":class:`WebexClient`: one object per access token, one attribute per Webex resource."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import requests

from .resources.attachment_actions import AttachmentActionsResource
from .resources.contents import ContentsResource
from .resources.events import EventsResource
from .resources.licenses import LicensesResource
from .resources.memberships import MembershipsResource
from .resources.messages import MessagesResource
from .resources.organizations import OrganizationsResource
from .resources.people import PeopleResource
from .resources.roles import RolesResource
from .resources.room_tabs import RoomTabsResource
from .resources.rooms import RoomsResource
from .resources.team_memberships import TeamMembershipsResource
from .resources.teams import TeamsResource
from .resources.webhooks import WebhooksResource
from .retry import RetryPolicy
from .transport import Timeout, Transport

__all__ = ["RESOURCE_NAMES", "WebexClient"]

RESOURCE_NAMES = (
    "people",
    "rooms",
    "memberships",
    "messages",
    "teams",
    "team_memberships",
    "webhooks",
    "attachment_actions",
    "room_tabs",
    "events",
    "organizations",
    "licenses",
    "roles",
    "contents",
)


class WebexClient:
    """A Webex REST API client for one access token (bot, user or integration).

    ``base_url`` defaults to ``https://webexapis.com/v1``; ``timeout`` is seconds, a float
    or ``(connect, read)`` (default (10, 60)); ``session`` a :class:`requests.Session` to
    share (default: a new pooled one); ``retry`` a :class:`RetryPolicy`;
    ``on_unauthorized`` a callable ``() -> str | None`` called once on a 401: a new token
    it returns is used to resend the request once (OAuth refresh); ``trusted_hosts``
    further hosts that may receive the token (besides the base URL's and Webex's own).

    The token is private: it is not an attribute you can print, and it is not in the repr.
    """

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        on_unauthorized: Callable[[], str | None] | None = None,
        user_agent: str | None = None,
        proxies: Mapping[str, str] | None = None,
        verify: bool | str = True,
        trusted_hosts: Iterable[str] = (),
    ) -> None:
        self._transport = Transport(
            access_token,
            base_url=base_url,
            timeout=timeout,
            session=session,
            retry=retry,
            on_unauthorized=on_unauthorized,
            user_agent=user_agent,
            proxies=proxies,
            verify=verify,
            trusted_hosts=trusted_hosts,
        )
        t = self._transport
        self.people = PeopleResource(t)
        self.rooms = RoomsResource(t)
        self.memberships = MembershipsResource(t)
        self.messages = MessagesResource(t)
        self.teams = TeamsResource(t)
        self.team_memberships = TeamMembershipsResource(t)
        self.webhooks = WebhooksResource(t)
        self.attachment_actions = AttachmentActionsResource(t)
        self.room_tabs = RoomTabsResource(t)
        self.events = EventsResource(t)
        self.organizations = OrganizationsResource(t)
        self.licenses = LicensesResource(t)
        self.roles = RolesResource(t)
        self.contents = ContentsResource(t)

    def __repr__(self) -> str:
        return f"<WebexClient base_url={self.base_url!r}>"

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def session(self) -> requests.Session:
        """The pooled session every request goes through."""
        return self._transport.session

    @property
    def timeout(self) -> tuple[float, float]:
        return self._transport.timeout

    @property
    def retry(self) -> RetryPolicy:
        return self._transport.retry

    @property
    def transport(self) -> Transport:
        """The low-level transport (``transport.request(method, path, ...)``) for endpoints
        this client does not wrap."""
        return self._transport

    def close(self) -> None:
        """Close the pooled session's connections (not a session you passed in: its owner
        closes that)."""
        if self._transport.owns_session:
            self._transport.session.close()

    def __enter__(self) -> WebexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
