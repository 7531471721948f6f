"""Which client method covers which operation of the official Webex OpenAPI specs.

``tests/client/test_operations.py`` reads the specs (``webex-messaging.json`` and
``webex-admin.json``) and fails when an in-scope operation has no entry here or an entry
names a method that does not exist; ``python -m django_webexteams.client.docgen`` renders this
table into ``docs/client.md``.

Scope: the operations tagged with one of :data:`IN_SCOPE_TAGS`, minus :data:`EXCLUDED`.
Operations of other tags (room linked folders, HDS, SCIM, recordings, ...) are out of scope
(SPEC: messaging and admin basics only); :data:`OUT_OF_SCOPE_TAGS_NOTE` says so in the docs.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["EXCLUDED", "EXTRA", "IN_SCOPE_TAGS", "OPERATIONS", "Operation"]


class Operation(NamedTuple):
    method: str
    path: str
    client_method: str  # "rooms.list" -> WebexClient().rooms.list


#: Spec tags whose operations the client covers.
IN_SCOPE_TAGS = frozenset(
    {
        "People",
        "Rooms",
        "Memberships",
        "Messages",
        "Teams",
        "Team Memberships",
        "Webhooks",
        "Attachment Actions",
        "Room Tabs",
        "Events",
        "Organizations",
        "Licenses",
        "Roles",
    }
)

#: In-scope tags, but deliberately not covered; the reason is printed in docs/client.md.
EXCLUDED: dict[tuple[str, str], str] = {
    ("GET", "/rooms/{roomId}/meetingInfo"): (
        "deprecated by Webex (end of life 2025-01-31); use the Meetings API"
    ),
}

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/people", "people.list"),
    Operation("POST", "/people", "people.create"),
    Operation("GET", "/people/me", "people.me"),
    Operation("GET", "/people/{personId}", "people.get"),
    Operation("PUT", "/people/{personId}", "people.update"),
    Operation("DELETE", "/people/{personId}", "people.delete"),
    Operation("GET", "/rooms", "rooms.list"),
    Operation("POST", "/rooms", "rooms.create"),
    Operation("GET", "/rooms/{roomId}", "rooms.get"),
    Operation("PUT", "/rooms/{roomId}", "rooms.update"),
    Operation("DELETE", "/rooms/{roomId}", "rooms.delete"),
    Operation("GET", "/memberships", "memberships.list"),
    Operation("POST", "/memberships", "memberships.create"),
    Operation("GET", "/memberships/{membershipId}", "memberships.get"),
    Operation("PUT", "/memberships/{membershipId}", "memberships.update"),
    Operation("DELETE", "/memberships/{membershipId}", "memberships.delete"),
    Operation("GET", "/messages", "messages.list"),
    Operation("POST", "/messages", "messages.create"),
    Operation("GET", "/messages/direct", "messages.list_direct"),
    Operation("GET", "/messages/{messageId}", "messages.get"),
    Operation("PUT", "/messages/{messageId}", "messages.edit"),
    Operation("DELETE", "/messages/{messageId}", "messages.delete"),
    Operation("GET", "/teams", "teams.list"),
    Operation("POST", "/teams", "teams.create"),
    Operation("GET", "/teams/{teamId}", "teams.get"),
    Operation("PUT", "/teams/{teamId}", "teams.update"),
    Operation("DELETE", "/teams/{teamId}", "teams.delete"),
    Operation("GET", "/team/memberships", "team_memberships.list"),
    Operation("POST", "/team/memberships", "team_memberships.create"),
    Operation("GET", "/team/memberships/{membershipId}", "team_memberships.get"),
    Operation("PUT", "/team/memberships/{membershipId}", "team_memberships.update"),
    Operation("DELETE", "/team/memberships/{membershipId}", "team_memberships.delete"),
    Operation("GET", "/webhooks", "webhooks.list"),
    Operation("POST", "/webhooks", "webhooks.create"),
    Operation("GET", "/webhooks/{webhookId}", "webhooks.get"),
    Operation("PUT", "/webhooks/{webhookId}", "webhooks.update"),
    Operation("DELETE", "/webhooks/{webhookId}", "webhooks.delete"),
    Operation("POST", "/attachment/actions", "attachment_actions.create"),
    Operation("GET", "/attachment/actions/{id}", "attachment_actions.get"),
    Operation("GET", "/room/tabs", "room_tabs.list"),
    Operation("POST", "/room/tabs", "room_tabs.create"),
    Operation("GET", "/room/tabs/{id}", "room_tabs.get"),
    Operation("PUT", "/room/tabs/{id}", "room_tabs.update"),
    Operation("DELETE", "/room/tabs/{id}", "room_tabs.delete"),
    Operation("GET", "/events", "events.list"),
    Operation("GET", "/events/{eventId}", "events.get"),
    Operation("GET", "/organizations", "organizations.list"),
    Operation("GET", "/organizations/{orgId}", "organizations.get"),
    Operation("DELETE", "/organizations/{orgId}", "organizations.delete"),
    Operation("GET", "/licenses", "licenses.list"),
    Operation("GET", "/licenses/{licenseId}", "licenses.get"),
    Operation("PATCH", "/licenses/users", "licenses.assign_to_user"),
    Operation("GET", "/roles", "roles.list"),
    Operation("GET", "/roles/{roleId}", "roles.get"),
)

#: Operations the client covers that are not in the OpenAPI specs (documented elsewhere by
#: Webex): (method, path, client method, where it is documented).
EXTRA: tuple[tuple[str, str, str, str], ...] = (
    ("HEAD", "/contents/{contentId}", "contents.info", "Messages guide: file information"),
    ("GET", "/contents/{contentId}", "contents.download", "Messages guide: file download"),
    ("GET", "/authorize", "oauth.build_authorize_url", "Integrations guide (browser redirect)"),
    ("POST", "/access_token", "oauth.exchange_code", "Integrations guide: get tokens"),
    ("POST", "/access_token", "oauth.refresh_access_token", "Integrations guide: refresh"),
)
