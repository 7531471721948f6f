"""The websocket ("Mercury") path of the fake Webex: a websocket server on its own loopback
port that pushes ``conversation.activity`` frames to registered devices, as Webex does to the
open-source websocket bots (webex_bot, webex-node-bot-framework, the JS SDK).

Discovery (U2C), devices (WDM) and the id look-ups of the conversation service are ordinary
HTTP routes of the fake (``routes/mercury.py``); this module runs the socket side: the
handshake (404 for a device Webex does not know), the ``authorization`` frame, fan-out of the
activities the REST handlers' changes produce (``frames_for`` / ``publish``, called by the
app next to the webhook matcher) and the faults (``ws_drop``, ``ws_expire_device``, ...).

Activities carry no plain text: at Webex their content is end-to-end encrypted, so the fake
sends opaque JWE-looking strings and a client must fetch the message over REST, as a real one
must.

Each socket has its own sender thread, so a client that stops reading never blocks a REST
request or the other sockets.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import queue
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from .ids import decode_id, iso, tracking_id
from .state import Message, State

if TYPE_CHECKING:
    from .fake import FakeWebex
    from .routes.base import PendingEvent

log = logging.getLogger("django_webexteams.testing")

WS_PATH_PREFIX = "/mercury/devices/"

#: Close code and reason for an ``authorization`` frame whose token is not the device owner's
#: (or is no longer valid).
UNAUTHORIZED_CLOSE = (4401, "unauthorized")
#: Close code for the sockets of a device that ``ws_expire_device`` made stale.
EXPIRED_CLOSE = (4404, "device expired")

#: The fake's scan states as the ``malwareQuarantineState`` an activity shows. Only "safe" is
#: known from clients (webex_bot waits for it); the other three are the fake's own words.
QUARANTINE_STATE = {
    "clean": "safe",
    "scanning": "pending",
    "infected": "malicious",
    "unscannable": "unscannable",
}

# An activity to fan out: (who may hear it, the activity).
Outgoing = tuple[list[str], dict[str, Any]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def opaque(key_url: str) -> str:
    """A JWE-looking compact string (``alg: dir``, ``enc: A256GCM``) with random content: what
    a client sees where Webex sends encrypted text. Nothing of the plain text is in it."""
    header = json.dumps({"alg": "dir", "kid": key_url, "enc": "A256GCM"}, separators=(",", ":"))
    parts = [_b64(header.encode()), "", *(_b64(os.urandom(n)) for n in (12, 32, 16))]
    return ".".join(parts)


def raw_uuid(webex_id: str) -> str:
    """The uuid inside a REST id (``ciscospark://us/MESSAGE/<uuid>``)."""
    decoded = decode_id(webex_id)
    return decoded[1] if decoded else webex_id


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class _Socket:
    """One open websocket (authorised or not yet)."""

    conn: ServerConnection
    device_uuid: str
    person_id: str | None = None  # set once the authorization frame was accepted
    token: str | None = None
    seq: int = 0
    outbox: queue.Queue[tuple[str | bytes, str | None] | None] = field(default_factory=queue.Queue)
    # frame id -> (resend deadline, the frame): frames not acked yet (only with the fault on)
    unacked: dict[str, tuple[float, str]] = field(default_factory=dict)
    closed: bool = False

    @property
    def authorised(self) -> bool:
        return self.person_id is not None and not self.closed


class Mercury:
    """The websocket server and its bookkeeping; one per ``FakeWebex`` (``fake.mercury``)."""

    def __init__(self, fake: FakeWebex) -> None:
        self.fake = fake
        # Re-entrant: publish() closes a socket of a revoked token while holding it.
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.sockets: list[_Socket] = []
        self.frames_sent = 0
        self.acks: list[str] = []
        # Messages with files whose scan is not "safe" yet: the "update" frame is owed.
        self.awaiting_scan: set[str] = set()
        # faults
        self.drops = 0
        self.drop_after = 0
        self.frames_since_drop = 0
        self.resend_after: float | None = None
        self.handshake_delay = 0.0
        # server
        self.port: int | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def serving(self) -> bool:
        return self._server is not None

    def start(self, host: str, port: int) -> int:
        """Serve websockets on ``host:port`` (0: a free port) from a background thread."""
        if self._server is not None:
            assert self.port is not None
            return self.port
        self._stopping.clear()
        server = serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            # Protocol-level pings from clients are answered by websockets itself; the server
            # pings too, as Mercury does, so a dead client is noticed.
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            max_size=2**20,
            logger=logging.getLogger("django_webexteams.testing.websockets"),
        )
        self._server = server
        self.port = int(server.socket.getsockname()[1])
        self._thread = threading.Thread(
            target=self._accept_loop, args=(server,), name="fake-webex-websocket", daemon=True
        )
        self._thread.start()
        return self.port

    def _accept_loop(self, server: Server) -> None:
        # websockets' own serve_forever starts non-daemon threads per connection; a fake for
        # tests must never keep the interpreter alive, so connections get daemon threads here
        # (its ``Server.handler`` is the documented per-connection handler).
        poller = selectors.DefaultSelector()
        try:
            poller.register(server.socket, selectors.EVENT_READ)
        except (ValueError, OSError):
            return
        with poller:
            while not self._stopping.is_set():
                if not poller.select(timeout=0.1):
                    continue
                try:
                    sock, addr = server.socket.accept()
                except OSError:
                    if self._stopping.is_set():
                        return
                    continue
                threading.Thread(
                    target=server.handler,
                    args=(sock, addr),
                    name="fake-webex-websocket-conn",
                    daemon=True,
                ).start()

    def stop(self) -> None:
        """Stop accepting, hang up every socket and join the server thread."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with contextlib.suppress(OSError):
            server.socket.close()
        # websockets' sync Server opens a pipe for its own serve_forever()/shutdown() and
        # never closes it; this accept loop does not use it: closed here, or every
        # start/stop cycle of a fake (a fixture per test) leaks two file descriptors.
        for name in ("shutdown_watcher", "shutdown_notifier"):
            fd = getattr(server, name, None)
            if isinstance(fd, int):
                with contextlib.suppress(OSError):
                    os.close(fd)
        with self.lock:
            sockets = list(self.sockets)
        for s in sockets:
            self._abort(s)
        with self.cond:
            self.cond.wait_for(lambda: not self.sockets, timeout=5)

    def reset(self) -> None:
        """``fake.reset()``: hang up every socket (their devices are forgotten) and forget the
        counters, acks and faults."""
        with self.lock:
            sockets = list(self.sockets)
        for s in sockets:
            self._close(s, 1001, "reset")
        with self.cond:
            self.frames_sent = 0
            self.acks.clear()
            self.cond.notify_all()
        self.awaiting_scan.clear()
        self.reset_faults()

    def reset_faults(self) -> None:
        with self.lock:
            self.drops = 0
            self.drop_after = 0
            self.frames_since_drop = 0
            self.resend_after = None
            self.handshake_delay = 0.0
            for s in self.sockets:
                s.unacked.clear()

    def ws_url(self, host: str, device_uuid: str) -> str:
        """The ``webSocketUrl`` of a device, on the host the client reached the fake by."""
        if self.port is None or self._server is None:
            return f"ws://fake-webex.invalid{WS_PATH_PREFIX}{device_uuid}"
        return f"ws://{host}:{self.port}{WS_PATH_PREFIX}{device_uuid}"

    # --- handshake and connection -----------------------------------------------------------
    def _device_uuid(self, path: str) -> str | None:
        parts = urlsplit(path)
        if not parts.path.startswith(WS_PATH_PREFIX):
            return None
        device_uuid = parts.path[len(WS_PATH_PREFIX) :].strip("/")
        return device_uuid or None

    def _device_ok(self, device_uuid: str | None) -> bool:
        state = self.fake.state
        with state.lock:
            device = state.devices.get(device_uuid or "")
            return device is not None and not device.stale

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        delay = self.handshake_delay
        if delay > 0 and self._stopping.wait(delay):
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Stopping.\n")
        if not self._device_ok(self._device_uuid(request.path)):
            # An unknown, deleted or stale device: clients re-register on this 404.
            return conn.respond(HTTPStatus.NOT_FOUND, "Device not found.\n")
        return None

    def _handle(self, conn: ServerConnection) -> None:
        device_uuid = self._device_uuid(conn.request.path if conn.request else "") or ""
        s = _Socket(conn, device_uuid)
        with self.cond:
            if self._stopping.is_set():
                return
            self.sockets.append(s)
        sender = threading.Thread(
            target=self._send_loop, args=(s,), name="fake-webex-websocket-send", daemon=True
        )
        sender.start()
        try:
            self._receive_loop(s)
        except ConnectionClosed:
            pass
        finally:
            s.outbox.put(None)
            with self.cond:
                s.closed = True
                if s in self.sockets:
                    self.sockets.remove(s)
                self.cond.notify_all()

    def _receive_loop(self, s: _Socket) -> None:
        for raw in s.conn:
            try:
                frame = json.loads(raw)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                log.debug("fake Webex websocket: ignoring a frame that is not a JSON object")
                if s.person_id is None:
                    self._close(s, *UNAUTHORIZED_CLOSE)
                    return
                continue
            if s.person_id is None:
                if not self._authorise(s, frame):
                    self._close(s, *UNAUTHORIZED_CLOSE)
                    return
                continue
            if frame.get("type") == "ack":
                self._ack(frame.get("messageId"))
            else:
                log.debug("fake Webex websocket: ignoring a %r frame", frame.get("type"))

    def _authorise(self, s: _Socket, frame: dict[str, Any]) -> bool:
        if frame.get("type") != "authorization":
            return False
        data = frame.get("data")
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.startswith("Bearer "):
            return False
        value = token[len("Bearer ") :]
        state = self.fake.state
        with state.lock:
            device = state.devices.get(s.device_uuid)
            person_id = self._token_person(state, value)
            # Only the device owner's own token opens its socket: a token of someone else
            # (or a revoked/expired one) would read another person's activity stream.
            if device is None or device.stale or person_id is None:
                return False
            if person_id != device.person_id:
                return False
        with self.cond:
            s.person_id, s.token = person_id, value
            self.cond.notify_all()
        self._maybe_drop()
        return True

    @staticmethod
    def _token_person(state: State, value: str) -> str | None:
        token = state.tokens.get(value)
        if token is None or token.revoked:
            return None
        if token.expires_at is not None and token.expires_at <= state.clock.time():
            return None
        return token.person_id if token.person_id in state.people else None

    def _ack(self, message_id: Any) -> None:
        if not isinstance(message_id, str):
            log.debug("fake Webex websocket: ignoring an ack without a messageId")
            return
        with self.cond:
            self.acks.append(message_id)
            for s in self.sockets:
                s.unacked.pop(message_id, None)
            self.cond.notify_all()

    def _send_loop(self, s: _Socket) -> None:
        while True:
            try:
                item = s.outbox.get(timeout=0.05)
            except queue.Empty:
                self._resend_due(s)
                continue
            if item is None:
                return
            data, frame_id = item
            if not self._send(s, data):
                return
            with self.cond:
                if frame_id is not None and self.resend_after is not None:
                    assert isinstance(data, str)
                    s.unacked[frame_id] = (time.monotonic() + self.resend_after, data)
            self._count_frame()
            self._resend_due(s)

    def _send(self, s: _Socket, data: str | bytes) -> bool:
        try:
            s.conn.send(data)
        except (ConnectionClosed, OSError):
            return False
        return True

    def _resend_due(self, s: _Socket) -> None:
        now = time.monotonic()
        with self.lock:
            due = [(fid, frame) for fid, (at, frame) in s.unacked.items() if at <= now]
            for fid, _frame in due:
                del s.unacked[fid]  # once only
        for _fid, frame in due:
            if self._send(s, frame):
                self._count_frame()

    def _count_frame(self) -> None:
        with self.cond:
            self.frames_sent += 1
            if self.drops > 0:
                self.frames_since_drop += 1
            self.cond.notify_all()
        self._maybe_drop()

    # --- closing ----------------------------------------------------------------------------
    def _close(self, s: _Socket, code: int, reason: str) -> None:
        """A clean close (a close frame with ``code``), from any thread."""
        with self.lock:
            s.closed = True
        s.outbox.put(None)
        threading.Thread(
            target=self._close_now, args=(s, code, reason), name="fake-webex-ws-close", daemon=True
        ).start()

    @staticmethod
    def _close_now(s: _Socket, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            s.conn.close(code, reason)

    def _abort(self, s: _Socket) -> None:
        """Hang up without a close frame: the client sees the TCP connection end (1006)."""
        with self.lock:
            s.closed = True
        s.outbox.put(None)
        with contextlib.suppress(OSError):
            s.conn.socket.shutdown(socket.SHUT_RDWR)

    def _maybe_drop(self) -> None:
        with self.lock:
            targets = [s for s in self.sockets if s.authorised]
            if self.drops <= 0 or not targets or self.frames_since_drop < self.drop_after:
                return
            self.drops -= 1
            self.frames_since_drop = 0
        for s in targets:
            self._abort(s)

    # --- faults -----------------------------------------------------------------------------
    def arm_drop(self, times: int, after_frames: int) -> None:
        with self.lock:
            self.drops, self.drop_after, self.frames_since_drop = times, after_frames, 0
        self._maybe_drop()

    def expire_device(self, device_uuid: str) -> None:
        state = self.fake.state
        with state.lock:
            device = state.devices.get(device_uuid)
            if device is None:
                raise ValueError(f"no such device: {device_uuid!r}")
            device.stale = True
        self.close_device(device_uuid, *EXPIRED_CLOSE)

    def close_device(self, device_uuid: str, code: int, reason: str) -> None:
        with self.lock:
            targets = [s for s in self.sockets if s.device_uuid == device_uuid and not s.closed]
        for s in targets:
            self._close(s, code, reason)

    def send_raw(self, data: str | bytes) -> None:
        with self.lock:
            for s in self.sockets:
                if s.authorised:
                    s.outbox.put((data, None))

    # --- observation ------------------------------------------------------------------------
    def connections(self) -> int:
        with self.lock:
            return sum(1 for s in self.sockets if s.authorised)

    def authorised_people(self) -> list[str]:
        """The person id of each authorised websocket open now (one entry per socket)."""
        with self.lock:
            return [str(s.person_id) for s in self.sockets if s.authorised]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)

    def wait_for_connections(self, n: int, timeout: float) -> bool:
        return self.wait_for(lambda: sum(1 for s in self.sockets if s.authorised) == n, timeout)

    def wait_for_acks(self, n: int, timeout: float) -> bool:
        return self.wait_for(lambda: len(self.acks) >= n, timeout)

    # --- from changes to frames -------------------------------------------------------------
    def frames_for(self, state: State, events: Iterable[PendingEvent]) -> list[Outgoing]:
        """The activities a handler's changes produce, with their audiences (who may see the
        change, as for webhooks). Call under ``state.lock``."""
        out: list[Outgoing] = []
        for ev in events:
            out.extend(self._activities(state, ev))
        return out

    def _activities(self, state: State, ev: PendingEvent) -> list[Outgoing]:
        audience = list(ev.owner_ids or [])
        data = ev.data
        if ev.resource == "messages" and ev.event == "created":
            msg = state.messages.get(str(data.get("id")))
            if msg is None:
                return []
            return self._message_created(state, msg, audience)
        if ev.resource == "messages" and ev.event == "deleted":
            gone: dict[str, Any] = {"objectType": "activity", "id": raw_uuid(str(data["id"]))}
            return [(audience, self._activity(state, "delete", ev.actor_id, data["roomId"], gone))]
        if ev.resource == "attachmentActions" and ev.event == "created":
            key_url = _key_url(data["roomId"])
            obj: dict[str, Any] = {
                "objectType": "submit",
                "inputs": opaque(key_url),
                "parent": {"id": raw_uuid(str(data["messageId"])), "type": "cardAction"},
            }
            activity = self._activity(
                state, "cardAction", ev.actor_id, data["roomId"], obj, raw_uuid(str(data["id"]))
            )
            return [(audience, activity)]
        if ev.resource == "memberships" and ev.event in ("created", "deleted"):
            person = {
                "objectType": "person",
                "id": raw_uuid(str(data["personId"])),
                "emailAddress": data.get("personEmail"),
                "displayName": data.get("personDisplayName"),
                "entryUUID": raw_uuid(str(data["personId"])),
            }
            verb = "add" if ev.event == "created" else "leave"
            return [(audience, self._activity(state, verb, ev.actor_id, data["roomId"], person))]
        return []

    def _message_created(self, state: State, msg: Message, audience: list[str]) -> list[Outgoing]:
        key_url = _key_url(msg.room_id)
        msg_uuid = raw_uuid(msg.id)
        if not msg.files:
            obj: dict[str, Any] = {
                "objectType": "comment",
                "displayName": opaque(key_url),
                "content": opaque(key_url),
            }
            post = self._activity(state, "post", msg.person_id, msg.room_id, obj, msg_uuid, msg)
            return [(audience, post)]
        files = self._files_object(state, msg)
        share = self._activity(state, "share", msg.person_id, msg.room_id, files, msg_uuid, msg)
        out = [(audience, share)]
        if self._all_safe(state, msg):
            out.append((audience, self._scan_update(state, msg)))
        else:
            self.awaiting_scan.add(msg.id)
        return out

    def scan_changed(self, state: State) -> list[Outgoing]:
        """The "update" frames owed now that a file's scan state changed. Call under
        ``state.lock``."""
        out: list[Outgoing] = []
        for msg_id in sorted(self.awaiting_scan):
            msg = state.messages.get(msg_id)
            room = state.rooms.get(msg.room_id) if msg else None
            if msg is None or room is None:
                self.awaiting_scan.discard(msg_id)
                continue
            if self._all_safe(state, msg):
                self.awaiting_scan.discard(msg_id)
                out.append((state.message_audience(room, msg), self._scan_update(state, msg)))
        return out

    @staticmethod
    def _all_safe(state: State, msg: Message) -> bool:
        return all(state.files[f].scan_state == "clean" for f in msg.files if f in state.files)

    def _files_object(self, state: State, msg: Message) -> dict[str, Any]:
        key_url = _key_url(msg.room_id)
        items = []
        for ref in msg.files:
            stored = state.files.get(ref)
            items.append(
                {
                    "objectType": "file",
                    "displayName": opaque(key_url),
                    # A URL given at post time is not scanned by the fake.
                    "malwareQuarantineState": QUARANTINE_STATE[stored.scan_state]
                    if stored
                    else "safe",
                    "url": state.file_url(ref, self.fake.base_url),
                }
            )
        return {"objectType": "content", "contentCategory": "documents", "files": {"items": items}}

    def _scan_update(self, state: State, msg: Message) -> dict[str, Any]:
        obj = {"id": raw_uuid(msg.id), **self._files_object(state, msg)}
        return self._activity(state, "update", msg.person_id, msg.room_id, obj, None, msg)

    def _activity(
        self,
        state: State,
        verb: str,
        actor_id: str,
        room_id: str,
        obj: dict[str, Any],
        activity_id: str | None = None,
        msg: Message | None = None,
    ) -> dict[str, Any]:
        actor = state.people.get(actor_id)
        actor_uuid = raw_uuid(actor_id)
        room_uuid = raw_uuid(room_id)
        room = state.rooms.get(room_id)
        activity: dict[str, Any] = {
            "id": activity_id or str(uuid.uuid4()),
            "objectType": "activity",
            "verb": verb,
            "published": iso(state.clock.now()),
            "actor": {
                "id": actor_uuid,
                "objectType": "person",
                "emailAddress": actor.email if actor else None,
                "displayName": actor.display_name if actor else None,
                "entryUUID": actor_uuid,
            },
            "object": obj,
            "target": {
                "id": room_uuid,
                "objectType": "conversation",
                "url": f"{self.fake.url}/conversation/api/v1/conversations/{room_uuid}",
                "tags": ["ONE_ON_ONE"] if room is not None and room.type == "direct" else [],
            },
            "encryptionKeyUrl": _key_url(room_id),
        }
        if msg is not None and msg.parent_id and verb in ("post", "share"):
            activity["parent"] = {"id": raw_uuid(msg.parent_id), "type": "reply"}
        return activity

    def publish(self, outgoing: Iterable[Outgoing]) -> None:
        """Queue each activity to the authorised sockets of its audience, as connected now
        (no replay: a person with no socket open now never gets it). Takes ``state.lock``
        (callers may hold it: the app does, so that frames leave in the order of the
        changes); never called with ``self.lock`` held."""
        outgoing = list(outgoing)
        if not outgoing:
            return
        state = self.fake.state
        with state.lock, self.lock:
            for audience, activity in outgoing:
                who = set(audience)
                for s in self.sockets:
                    if not s.authorised or s.person_id not in who:
                        continue
                    if s.token is None or self._token_person(state, s.token) != s.person_id:
                        # Revoked or expired since the socket opened: it hears nothing more.
                        self._close(s, *UNAUTHORIZED_CLOSE)
                        continue
                    s.seq += 1
                    frame_id = str(uuid.uuid4())
                    frame = {
                        "id": frame_id,
                        "data": {"eventType": "conversation.activity", "activity": activity},
                        "timestamp": _now_ms(),
                        "trackingId": tracking_id(),
                        "alertType": "full",
                        "headers": {},
                        "sequenceNumber": s.seq,
                        "filterMessage": False,
                        "wsWriteTimestamp": _now_ms(),
                    }
                    s.outbox.put((json.dumps(frame, separators=(",", ":")), frame_id))


def _key_url(room_id: str) -> str:
    return f"kms://fake/keys/{uuid.uuid5(uuid.NAMESPACE_URL, room_id)}"
