"""Webhook deliveries: matching registrations, the real envelope, the signature, a background
sender, and disabling after repeated failures (100 within 5 minutes at Webex)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .ids import iso, tracking_id
from .state import State, Webhook

if TYPE_CHECKING:
    from .fake import FakeWebex
    from .routes.base import PendingEvent

log = logging.getLogger("django_webexteams.testing")


# Deliveries go straight to the target: never through a proxy from the environment
# (HTTP_PROXY), which would take a loopback test off the machine.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sign(secret: str, body: bytes) -> str:
    """``X-Spark-Signature``: lowercase hex HMAC-SHA1 of the raw body keyed with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@dataclass
class Delivery:
    """One attempted delivery, recorded for assertions (``fake.deliveries``)."""

    webhook_id: str
    target_url: str
    body: bytes
    headers: dict[str, str]
    payload: dict[str, Any]
    status_code: int | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def signature(self) -> str | None:
        return self.headers.get("X-Spark-Signature")

    @property
    def resource(self) -> str:
        return str(self.payload.get("resource"))

    @property
    def event(self) -> str:
        return str(self.payload.get("event"))

    def __repr__(self) -> str:  # the body may be sensitive: show metadata only
        return (
            f"<Delivery {self.resource}/{self.event} -> {self.target_url} "
            f"status={self.status_code} error={self.error}>"
        )


#: The filter keys Webex supports per resource (Webhooks guide, "Filtering Webhooks"). Other
#: resources (meetings, recordings, ...) are not emitted by the fake, so not listed here.
FILTER_KEYS: dict[str, frozenset[str]] = {
    "messages": frozenset(
        {"roomId", "roomType", "personId", "personEmail", "mentionedPeople", "hasFiles"}
    ),
    "memberships": frozenset({"roomId", "personId", "personEmail", "isModerator"}),
    "rooms": frozenset({"type", "isLocked"}),
    "attachmentActions": frozenset({"messageId", "personId", "roomId"}),
}


def unsupported_filter_keys(resource: str, filter: str) -> list[str]:
    """The keys of ``filter`` that ``resource`` does not support (for ``all``: that no
    resource supports); empty for resources the fake does not emit."""
    if resource == "all":
        known: frozenset[str] = frozenset().union(*FILTER_KEYS.values())
    elif resource in FILTER_KEYS:
        known = FILTER_KEYS[resource]
    else:
        return []
    keys = [key for key, _ in parse_qsl(filter, keep_blank_values=True)]
    return [key for key in dict.fromkeys(keys) if key not in known]


def _filter_matches(hook: Webhook, ev: PendingEvent, state: State) -> bool:
    if not hook.filter:
        return True
    data = ev.hook_data
    supported = FILTER_KEYS.get(ev.resource)
    for key, value in parse_qsl(hook.filter, keep_blank_values=True):
        if supported is not None and key not in supported:
            # Webex applies a filter per resource: an event of a resource that cannot be
            # filtered by this key (a firehose webhook's roomId on a rooms event) is not
            # delivered, rather than delivered unfiltered.
            return False
        if key == "mentionedPeople":
            wanted = hook.created_by if value == "me" else value
            if wanted not in (data.get("mentionedPeople") or []):
                return False
        elif key == "hasFiles":
            if bool(data.get("files")) != (value.lower() == "true"):
                return False
        elif key == "roomType":
            room = state.rooms.get(str(data.get("roomId", "")))
            room_type = data.get("roomType") or data.get("type") or (room.type if room else None)
            if room_type != value:
                return False
        elif key == "personEmail":
            if str(data.get("personEmail", "")).lower() != value.lower():
                return False
        else:
            actual = data.get(key)
            if isinstance(actual, bool):
                actual = "true" if actual else "false"
            if actual is None or str(actual) != value:
                return False
    return True


def _orgs_of(state: State, ev: PendingEvent) -> set[str]:
    """The organizations an event belongs to: the actor's, and the owner of its space (an
    org-wide webhook hears its own organization's activity only)."""
    orgs: set[str] = set()
    actor = state.people.get(ev.actor_id)
    if actor is not None:
        orgs.add(actor.org_id)
    room = state.rooms.get(ev.room_id or "") if ev.room_id else None
    if room is not None and room.owner_id:
        orgs.add(room.owner_id)
    return orgs


def match(state: State, ev: PendingEvent) -> list[tuple[Webhook, dict[str, Any]]]:
    """Webhooks that fire for ``ev`` with their envelopes. Call under ``state.lock``."""
    out = []
    for hook in sorted(state.webhooks.values(), key=lambda h: h.seq):
        if hook.status != "active":
            continue
        if hook.resource not in ("all", ev.resource) or hook.event not in ("all", ev.event):
            continue
        owner = state.people.get(hook.created_by)
        in_scope = hook.created_by in (ev.owner_ids or []) or (
            hook.owned_by == "org"
            and owner is not None
            and owner.is_admin
            and hook.org_id in _orgs_of(state, ev)
        )
        if not in_scope or not _filter_matches(hook, ev, state):
            continue
        envelope = {
            "id": hook.id,
            "name": hook.name,
            "targetUrl": hook.target_url,
            "resource": ev.resource,
            "event": ev.event,
            "filter": hook.filter,
            "orgId": hook.org_id,
            "createdBy": hook.created_by,
            "appId": hook.app_id,
            "ownedBy": hook.owned_by,
            "status": hook.status,
            "created": iso(hook.created),
            "actorId": ev.actor_id,
            "data": ev.hook_data,
        }
        if envelope["filter"] is None:
            del envelope["filter"]
        out.append((hook, envelope))
    return out


class Dispatcher:
    """Sends deliveries from one background thread, in order."""

    def __init__(self, fake: FakeWebex) -> None:
        self.fake = fake
        self.queue: queue.Queue[tuple[Delivery, str | None] | None] = queue.Queue()
        self.deliveries: list[Delivery] = []
        self.cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fake-webex-webhooks", daemon=True
                )
                self._thread.start()

    def submit(self, hook: Webhook, envelope: dict[str, Any]) -> Delivery:
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Webex-Webhook/1.0 (django-webexteams fake)",
            "TrackingID": tracking_id(),
        }
        if hook.secret:
            headers["X-Spark-Signature"] = sign(hook.secret, body)
        delivery = Delivery(hook.id, hook.target_url, body, headers, envelope)
        self._ensure_thread()
        self.queue.put((delivery, hook.id))
        return delivery

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.queue.put(None)
            self._thread.join(timeout=10)
        self._thread = None

    def wait(self, n: int, timeout: float) -> list[Delivery]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.deliveries) >= n, timeout=timeout)
            if not ok:
                raise TimeoutError(
                    f"expected {n} webhook deliveries within {timeout}s, "
                    f"got {len(self.deliveries)}: {self.deliveries!r}"
                )
            return list(self.deliveries)

    def idle(self, timeout: float) -> bool:
        """Wait until every queued delivery has been attempted."""
        done = threading.Event()

        def waiter() -> None:
            self.queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                delivery, hook_id = item
                self._send(delivery)
                self._account(hook_id, delivery)
                with self.cond:
                    self.deliveries.append(delivery)
                    self.cond.notify_all()
                delivery.done.set()
            except Exception:  # the sender thread must survive anything
                log.exception("fake Webex: webhook delivery crashed")
            finally:
                self.queue.task_done()

    def _send(self, delivery: Delivery) -> None:
        req = urllib.request.Request(  # noqa: S310 - targetUrl is http(s), checked on create
            delivery.target_url, data=delivery.body, headers=delivery.headers, method="POST"
        )
        try:
            with _opener.open(req, timeout=self.fake.webhook_timeout) as resp:
                resp.read()
                delivery.status_code = resp.status
        except urllib.error.HTTPError as exc:
            delivery.status_code = exc.code
            delivery.error = f"HTTP {exc.code}"
        except Exception as exc:
            delivery.error = type(exc).__name__

    def _account(self, hook_id: str | None, delivery: Delivery) -> None:
        if delivery.ok or hook_id is None:
            return
        state = self.fake.state
        with state.lock:
            hook = state.webhooks.get(hook_id)
            if hook is None:
                return
            now = state.clock.time()
            hook.failures.append(now)
            window = self.fake.webhook_failure_window
            hook.failures[:] = [t for t in hook.failures if t > now - window]
            if hook.status == "active" and len(hook.failures) >= self.fake.webhook_failure_limit:
                # Webex disables the webhook and never re-enables it by itself.
                hook.status = "inactive"
                log.warning(
                    "fake Webex: webhook %s disabled after %s failed deliveries",
                    hook.id,
                    len(hook.failures),
                )
