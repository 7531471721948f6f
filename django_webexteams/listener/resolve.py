"""Step 4: from an activity to the payload a webhook would have carried.

Message content on the socket is end-to-end encrypted; nothing here decrypts it. The REST id
comes from the conversation service (``target.url`` with ``conversations/<target>`` replaced
by ``messages/<activity>`` or ``attachment/actions/<activity>``), and the object from the REST
API, whose answer is what the payload's ``data`` is built from: the same fields a webhook
envelope has, so that receivers cannot tell the transports apart (``event.transport`` can).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from django_webexteams.client import WebexClient
from django_webexteams.listener.frames import Activity
from django_webexteams.listener.ids import cluster_of, rest_id, uuid_of

__all__ = ["Resolver", "UnresolvableError", "message_data"]

logger = logging.getLogger("django_webexteams.listener")

# What a messages webhook envelope carries (ids and metadata, never the text).
MESSAGE_KEYS = (
    "id",
    "roomId",
    "roomType",
    "personId",
    "personEmail",
    "mentionedPeople",
    "mentionedGroups",
    "files",
    "parentId",
    "created",
)


def message_data(message: dict[str, Any]) -> dict[str, Any]:
    """What a messages webhook envelope's ``data`` holds, from a REST message's JSON."""
    return {k: message[k] for k in MESSAGE_KEYS if message.get(k) is not None}


class UnresolvableError(Exception):
    """The activity names nothing we can fetch (a refused host, an id the API does not know)."""


def _all_safe(obj: dict[str, Any]) -> bool:
    files = obj.get("files")
    items = files.get("items") if isinstance(files, dict) else None
    if not isinstance(items, list) or not items:
        return False
    return all(isinstance(i, dict) and i.get("malwareQuarantineState") == "safe" for i in items)


class Resolver:
    """Turns activities into webhook-shaped payloads for one identity."""

    def __init__(self, client: WebexClient, me: dict[str, Any], *, own_events: bool) -> None:
        self.client = client
        self.own_id = str(me.get("id") or "")
        self.own_uuid = uuid_of(self.own_id) or ""
        self.org_id = str(me.get("orgId") or "")
        self.cluster = cluster_of(self.own_id)
        self.own_events = own_events
        self.calls = 0  # REST requests made for events
        # The message a file "share" announced, per conversation, until its scan "update".
        self._shares: OrderedDict[str, str] = OrderedDict()

    def is_own(self, activity: Activity) -> bool:
        return bool(self.own_uuid) and activity.actor_id == self.own_uuid

    def payload(self, activity: Activity) -> dict[str, Any] | None:
        """The payload for ``activity``, or ``None`` for activities that are no event of
        ours (other verbs, a file share still being scanned, our own unless asked)."""
        if self.is_own(activity) and not self.own_events:
            return None  # the own-event rule, decided before any REST request
        verb = activity.verb
        if verb == "post":
            return self._message_created(activity, activity.id)
        if verb == "share":
            if not _all_safe(activity.object):
                self._remember_share(activity)
                return None  # dispatched once the scan says "safe" (the "update")
            return self._message_created(activity, activity.id)
        if verb == "update":
            obj = activity.object
            if obj.get("contentCategory") != "documents" or not _all_safe(obj):
                return None
            raw = obj.get("id") if isinstance(obj.get("id"), str) else None
            raw = raw or self._shares.pop(activity.target_id, None)
            return self._message_created(activity, raw) if raw else None
        if verb == "cardAction":
            return self._card_action(activity)
        if verb in ("add", "leave"):
            return self._membership(activity, created=verb == "add")
        if verb == "delete":
            return self._message_deleted(activity)
        return None

    # -- helpers ------------------------------------------------------------------------
    def _remember_share(self, activity: Activity) -> None:
        self._shares[activity.target_id] = activity.id
        while len(self._shares) > 1000:
            self._shares.popitem(last=False)

    def envelope(
        self, resource: str, event: str, actor: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "resource": resource,
            "event": event,
            "actorId": actor,
            # The receiving identity, as a webhook's createdBy is: the own-event rule and the
            # dedupe key read it (an event heard over both transports has one key).
            "createdBy": self.own_id,
            "orgId": self.org_id,
            "ownedBy": "creator",
            "status": "active",
            "data": data,
        }

    def _get(self, url: str) -> dict[str, Any]:
        self.calls += 1
        return self.client.transport.request("GET", url).json_object

    def _conversation(self, activity: Activity, kind: str, raw: str) -> str:
        """The REST id of ``raw`` from the conversation service."""
        url, target = activity.target_url, activity.target_id
        marker = f"conversations/{target}"
        if not target or marker not in url:
            raise UnresolvableError("the activity's target has no conversation URL")
        # SECURITY: target.url comes from the frame. The token goes only to hosts the
        # catalog named (or the settings trust); a frame naming another host is refused.
        if not self.client.transport.is_trusted(url):
            raise UnresolvableError("the activity's conversation host is not a Webex host")
        found = self._get(url.replace(marker, f"{kind}/{raw}")).get("id")
        if not isinstance(found, str) or not found:
            raise UnresolvableError("the conversation service gave no id")
        return found

    def _message_created(self, activity: Activity, raw: str) -> dict[str, Any]:
        message_id = self._conversation(activity, "messages", raw)
        self.calls += 1
        message = self.client.messages.get(message_id).raw
        data = message_data(message)
        actor = str(message.get("personId") or rest_id("PEOPLE", activity.actor_id, self.cluster))
        return self.envelope("messages", "created", actor, data)

    def _card_action(self, activity: Activity) -> dict[str, Any]:
        action_id = self._conversation(activity, "attachment/actions", activity.id)
        self.calls += 1
        action = self.client.attachment_actions.get(action_id).raw
        # Like the webhook envelope: ids only, never the inputs (event.fetch() reads them).
        data = {k: v for k, v in action.items() if k != "inputs"}
        actor = str(action.get("personId") or rest_id("PEOPLE", activity.actor_id, self.cluster))
        return self.envelope("attachmentActions", "created", actor, data)

    def _membership(self, activity: Activity, *, created: bool) -> dict[str, Any]:
        person = activity.object.get("id")
        if not isinstance(person, str) or not person or "/" in person or not activity.target_id:
            raise UnresolvableError("the membership activity names no person or space")
        room_id = rest_id("ROOM", activity.target_id, self.cluster)
        person_id = rest_id("PEOPLE", person, self.cluster)
        actor = rest_id("PEOPLE", activity.actor_id, self.cluster)
        if created:
            self.calls += 1
            found = list(self.client.memberships.list(room_id=room_id, person_id=person_id))
            if not found:
                raise UnresolvableError("the membership is gone already")
            data = dict(found[0].raw)
        else:
            # The membership is gone: what the ids say is all there is (like a webhook's).
            email = activity.object.get("emailAddress")
            data = {
                "id": rest_id("MEMBERSHIP", f"{person}:{activity.target_id}", self.cluster),
                "roomId": room_id,
                "personId": person_id,
            }
            if isinstance(email, str) and email:
                data["personEmail"] = email
        return self.envelope("memberships", "created" if created else "deleted", actor, data)

    def _message_deleted(self, activity: Activity) -> dict[str, Any]:
        raw = activity.object.get("id")
        if not isinstance(raw, str) or not raw or "/" in raw or not activity.target_id:
            raise UnresolvableError("the delete activity names no message")
        data = {
            "id": rest_id("MESSAGE", raw, self.cluster),
            "roomId": rest_id("ROOM", activity.target_id, self.cluster),
        }
        actor = rest_id("PEOPLE", activity.actor_id, self.cluster)
        return self.envelope("messages", "deleted", actor, data)
