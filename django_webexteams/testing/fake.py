"""``FakeWebex``: the public face of the emulator."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .app import FakeApp, RecordedRequest
from .clock import Clock
from .delivery import Delivery, Dispatcher
from .faults import FaultRule, Faults, Quirks, RateLimit
from .mercury import Mercury
from .state import OAuthClient, Organization, Person, State, Token

# Stand-in host for in-process use (adapter) before/without a real server.
INPROCESS_BASE_URL = "http://fake-webex.invalid/v1"


class FakeCallError(Exception):
    """A helper call (``fake.post_message`` ...) was refused by the fake's own rules."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class FakeWebex:
    """A stateful Webex for tests, the demo and users' own projects.

    As a context manager it serves real HTTP on 127.0.0.1 (``base_url``); ``adapter()`` and
    ``session()`` serve the same app in-process. Helpers (``create_room``, ``post_message``,
    ...) act as a given person through the same code paths as API calls, so they produce the
    same compliance events and webhook deliveries.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_failure_limit: int = 100,
        webhook_failure_window: float = 300.0,
        webhook_timeout: float = 5.0,
        access_token_lifetime: float = 14 * 24 * 3600,
        refresh_token_lifetime: float = 90 * 24 * 3600,
        control: bool = False,
        ws_port: int = 0,
    ) -> None:
        self.host, self.port = host, port
        # The websocket ("Mercury") server's port (0: a free one, fixed at the first start).
        self.ws_port = ws_port
        self.clock = Clock()
        self.state = State(self.clock)
        self.faults = Faults(self.clock)
        self.app = FakeApp(self)
        self.dispatcher = Dispatcher(self)
        self.mercury = Mercury(self)
        self.webhook_failure_limit = webhook_failure_limit
        self.webhook_failure_window = webhook_failure_window
        self.webhook_timeout = webhook_timeout
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.oauth_default_email: str | None = None
        # Check OAuth scopes per endpoint (403 when missing); see scopes.py.
        self.enforce_scopes = False
        # Serve the loopback-only control API under /_fake/ (control.py; the demo uses it).
        self.control = control
        self.unexpected_errors: list[BaseException] = []
        self._requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._server: Any = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeWebex:
        """Serve real HTTP, and websockets on ``ws_port``, from background threads
        (idempotent)."""
        if self._server is None:
            from .server import ThreadedWSGIServer

            self._server = ThreadedWSGIServer(self.app, self.host, self.port)
            self.port = self._server.port
            self._server.start()
        if not self.mercury.serving:
            self.ws_port = self.mercury.start(self.host, self.ws_port)
        return self

    def stop(self) -> None:
        """Stop serving (HTTP and websockets: open sockets are hung up) and stop the webhook
        sender."""
        self.mercury.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.dispatcher.stop()

    def __enter__(self) -> FakeWebex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """TCP connections the server accepted so far (0 when not serving)."""
        return int(self._server.httpd.connections) if self._server is not None else 0

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:PORT``."""
        if self._server is None:
            return INPROCESS_BASE_URL[: -len("/v1")]
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """API base URL, e.g. ``http://127.0.0.1:PORT/v1`` (no trailing slash)."""
        return self.url + "/v1"

    @property
    def u2c_url(self) -> str:
        """The websocket path's discovery URL (``GET`` with ``?format=hostmap``), the fake's
        stand-in for ``https://u2c.wbx2.com/u2c/api/v1/catalog``."""
        return self.url + "/u2c/api/v1/catalog"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/authorize"

    @property
    def token_url(self) -> str:
        return self.base_url + "/access_token"

    def adapter(self) -> Any:
        """A ``requests`` transport adapter serving this fake in-process."""
        from .adapter import FakeWebexAdapter

        return FakeWebexAdapter(self)

    def session(self) -> Any:
        """A ``requests.Session`` whose calls to ``self.url`` go through ``adapter()``."""
        import requests

        session = requests.Session()
        session.mount(self.url + "/", self.adapter())
        return session

    # --- people ------------------------------------------------------------------------------
    def add_person(
        self,
        email: str,
        display_name: str | None = None,
        *,
        admin: bool = False,
        licenses: Sequence[str] | None = None,
        roles: Sequence[str] | None = None,
        token: str | None = None,
        org: Organization | str | None = None,
    ) -> Person:
        """A person with a never-expiring token (``.token``), like a personal access token.
        ``licenses``/``roles`` take names ("Messaging") or ids; ``org`` (an
        :meth:`add_organization` result or an org id) is the person's organization (default:
        the fake's first one), whose licenses the names refer to."""
        with self.state.lock:
            org_id = self._org_id(org)
            lic_ids = None if licenses is None else [self._lic(x, org_id) for x in licenses]
            role_ids = None if roles is None else [self._role(x) for x in roles]
            return self.state.create_person(
                email,
                display_name,
                admin=admin,
                licenses=lic_ids,
                roles=role_ids,
                token=token,
                org_id=org_id,
            )

    def add_admin(
        self, email: str = "admin@example.com", display_name: str | None = None, **kw: Any
    ) -> Person:
        """A Full Administrator (admin APIs, compliance events, org webhooks)."""
        return self.add_person(email, display_name, admin=True, **kw)

    def add_compliance_officer(
        self,
        email: str,
        display_name: str | None = None,
        *,
        org: Organization | str | None = None,
    ) -> Person:
        return self.add_person(email, display_name, roles=["Compliance Officer"], org=org)

    def add_bot(
        self,
        display_name: str,
        email: str | None = None,
        *,
        token: str | None = None,
        org: Organization | str | None = None,
    ) -> Person:
        """A bot (``type: bot``, e-mail ``...@webex.bot``)."""
        if email is None:
            slug = "".join(
                c for c in display_name.lower().replace(" ", "-") if c.isalnum() or c == "-"
            )
            email = f"{slug or 'bot'}-{uuid.uuid4().hex[:6]}@webex.bot"
        with self.state.lock:
            return self.state.create_person(
                email, display_name, type="bot", token=token, org_id=self._org_id(org)
            )

    def person(self, email_or_id: str) -> Person | None:
        with self.state.lock:
            return self.state.people.get(email_or_id) or self.state.person_by_email(email_or_id)

    def issue_token(
        self, person: Person, *, expires_in: float | None = 3600, scopes: Iterable[str] = ()
    ) -> str:
        """An extra access token for ``person`` expiring after ``expires_in`` fake seconds."""
        with self.state.lock:
            return self.state.issue_token(
                person, lifetime=expires_in, scopes=list(scopes) or ["*"]
            ).value

    def revoke_tokens(self, person: Person) -> None:
        """Revoke every access and refresh token of ``person`` (as a user or admin would)."""
        with self.state.lock:
            for tok in self.state.tokens.values():
                if tok.person_id == person.id:
                    tok.revoked = True
            for rt in self.state.refresh_tokens.values():
                if rt.person_id == person.id:
                    rt.revoked = True

    def token_info(self, token: str) -> Token | None:
        with self.state.lock:
            return self.state.tokens.get(token)

    def _org_id(self, org: Organization | str | None) -> str:
        if org is None:
            return self.state.org.id
        org_id = org.id if isinstance(org, Organization) else org
        if org_id not in self.state.orgs:
            raise ValueError(f"no such organization: {org_id!r}")
        return org_id

    def _lic(self, name_or_id: str, org_id: str | None = None) -> str:
        if name_or_id in self.state.licenses:
            return name_or_id
        return self.state.license_named(name_or_id, org_id).id

    def _role(self, name_or_id: str) -> str:
        if name_or_id in self.state.roles:
            return name_or_id
        return self.state.role_named(name_or_id).id

    @property
    def org_id(self) -> str:
        return self.state.org.id

    def add_org(self, display_name: str) -> str:
        """A customer organization managed by the fake's own one (a partner's customer):
        its administrators list, read and may delete it. Returns its id."""
        with self.state.lock:
            return self.state.add_org(display_name).id

    def add_organization(self, display_name: str) -> Organization:
        """Another, independent organization (a second tenant) with its own subscription
        (the same license names, its own ids and meeting site). Pass it as ``org=`` to
        :meth:`add_person`, :meth:`add_admin`, :meth:`add_bot`, ... Its people, licenses,
        compliance events and org-wide webhooks are its own: the other organizations'
        administrators get 404 for them (``GET /people/{id}`` still finds its people, as
        Webex's directory does, without their licenses and roles)."""
        with self.state.lock:
            return self.state.add_organization(display_name)

    def license_id(self, name: str, *, org: Organization | str | None = None) -> str:
        with self.state.lock:
            return self.state.license_named(name, self._org_id(org)).id

    def role_id(self, name: str) -> str:
        return self.state.role_named(name).id

    # --- acting as a person (same code path as the API) --------------------------------------
    def call(
        self,
        actor: Person | str,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        files: tuple[str, bytes, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Any:
        """Call the API as ``actor`` in-process (no faults, not in ``requests``). Returns the
        JSON body; raises ``FakeCallError`` on an error status."""
        from urllib.parse import urlencode

        from .adapter import make_environ

        token = actor if isinstance(actor, str) else actor.token
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        headers = {"Authorization": f"Bearer {token}"}
        if files is not None:
            body, ctype = _multipart(form or {}, files)
            headers["Content-Type"] = ctype
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = b""
        environ = make_environ(method, url, headers, body, **{"fakewebex.internal": True})
        captured: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            return lambda data: None

        raw = b"".join(self.app(environ, start_response))
        status = captured["status"]
        data = json.loads(raw) if raw else None
        if status >= 400:
            raise FakeCallError(status, data)
        return data

    def create_room(
        self,
        actor: Person,
        title: str,
        members: Iterable[Person | str] = (),
        *,
        team_id: str | None = None,
        moderators: Iterable[Person] = (),
        **fields: Any,
    ) -> Any:
        """Create a group room as ``actor`` and add ``members`` (people or e-mails).
        Returns the room as an attribute-access dict (``room.id``, ``room["title"]``)."""
        body = {"title": title, **fields}
        if team_id:
            body["teamId"] = team_id
        room = self.call(actor, "POST", "/rooms", body)
        mods = {m.id for m in moderators}
        for member in members:
            self.add_member(
                actor, room["id"], member, moderator=getattr(member, "id", None) in mods
            )
        return Obj(room)

    def add_member(
        self, actor: Person, room_id: str, person: Person | str, *, moderator: bool = False
    ) -> Any:
        key = "personEmail" if isinstance(person, str) else "personId"
        value = person if isinstance(person, str) else person.id
        return Obj(
            self.call(
                actor,
                "POST",
                "/memberships",
                {"roomId": room_id, key: value, "isModerator": moderator},
            )
        )

    def create_team(self, actor: Person, name: str, members: Iterable[Person] = ()) -> Any:
        team = self.call(actor, "POST", "/teams", {"name": name})
        for member in members:
            self.call(
                actor, "POST", "/team/memberships", {"teamId": team["id"], "personId": member.id}
            )
        return Obj(team)

    def post_message(
        self,
        actor: Person,
        room_id: str | None = None,
        *,
        to_person: Person | str | None = None,
        text: str | None = None,
        markdown: str | None = None,
        mentions: Iterable[Person] = (),
        parent_id: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        file: tuple[str, bytes, str] | None = None,
    ) -> Any:
        """Post as ``actor``. ``mentions`` prepends ``<@personId:...>`` markup to the markdown
        (so bots get their webhook); ``file`` is ``(filename, bytes, content_type)``."""
        mentions = list(mentions)
        if mentions:
            tags = " ".join(f"<@personId:{p.id}|{p.display_name}>" for p in mentions)
            markdown = f"{tags} {markdown or text or ''}".strip()
        body: dict[str, Any] = {}
        if room_id:
            body["roomId"] = room_id
        if to_person is not None:
            if isinstance(to_person, str):
                body["toPersonEmail"] = to_person
            else:
                body["toPersonId"] = to_person.id
        for key, value in (("text", text), ("markdown", markdown), ("parentId", parent_id)):
            if value is not None:
                body[key] = value
        if attachments is not None:
            body["attachments"] = attachments
        if file is not None:
            form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            return Obj(self.call(actor, "POST", "/messages", files=file, form=form))
        return Obj(self.call(actor, "POST", "/messages", body))

    def submit_card(self, actor: Person, message_id: str, inputs: dict[str, Any]) -> Any:
        """Submit a card (``POST /attachment/actions``) as ``actor``."""
        return Obj(
            self.call(
                actor,
                "POST",
                "/attachment/actions",
                {"type": "submit", "messageId": message_id, "inputs": inputs},
            )
        )

    def create_webhook(
        self,
        actor: Person,
        name: str,
        target_url: str,
        resource: str = "all",
        event: str = "all",
        *,
        filter: str | None = None,
        secret: str | None = None,
    ) -> Any:
        body = {"name": name, "targetUrl": target_url, "resource": resource, "event": event}
        if filter:
            body["filter"] = filter
        if secret:
            body["secret"] = secret
        return Obj(self.call(actor, "POST", "/webhooks", body))

    def set_file_scan(self, file: str, state: str, *, retry_after: int = 2) -> None:
        """Set the malware-scan state of an uploaded file (its contents URL or id):
        ``"scanning"`` (423 + Retry-After), ``"infected"`` (410), ``"unscannable"`` (428 unless
        ``?allow=unscannable``) or ``"clean"``."""
        if state not in ("clean", "scanning", "infected", "unscannable"):
            raise ValueError(f"unknown scan state {state!r}")
        file_id = file.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        with self.state.lock:
            stored = self.state.files[file_id]
            stored.scan_state, stored.scan_retry_after = state, retry_after
            # A message whose files are all "clean" now: its websocket "update" frame.
            self.mercury.publish(self.mercury.scan_changed(self.state))

    # --- the websocket ("Mercury") path ----------------------------------------------------
    @property
    def device_registrations(self) -> int:
        """Devices registered (successful ``POST {wdm}/devices``) since the last reset."""
        with self.state.lock:
            return self.state.device_registrations

    def devices_of(self, person: Person | str) -> list[dict[str, Any]]:
        """The devices a person (a Person, id or e-mail) has registered and Webex still
        knows, as ``GET {wdm}/devices`` lists them."""
        found = person if isinstance(person, Person) else self.person(person)
        if found is None:
            raise ValueError(f"no such person: {person!r}")
        from .routes.mercury import render_device

        with self.state.lock:
            devices = sorted(
                (d for d in self.state.devices.values() if d.person_id == found.id and not d.stale),
                key=lambda d: d.seq,
            )
            return [render_device(self, d, self.url, self.host) for d in devices]

    def ws_connections(self) -> int:
        """Authorised websockets open now."""
        return self.mercury.connections()

    def wait_for_ws_connections(self, n: int, timeout: float = 10.0) -> bool:
        """Block until exactly ``n`` authorised websockets are open (0: until all closed);
        False on timeout."""
        return self.mercury.wait_for_connections(n, timeout)

    @property
    def ws_frames_sent(self) -> int:
        """Websocket frames sent since the last reset (resent and raw ones included)."""
        with self.mercury.lock:
            return self.mercury.frames_sent

    @property
    def ws_acks(self) -> list[str]:
        """The ``messageId`` of every ``ack`` frame received, in order."""
        with self.mercury.lock:
            return list(self.mercury.acks)

    def wait_for_acks(self, n: int, timeout: float = 10.0) -> bool:
        """Block until at least ``n`` acks were received; False on timeout."""
        return self.mercury.wait_for_acks(n, timeout)

    def ws_drop(self, times: int = 1, *, after_frames: int = 0) -> None:
        """Hang up every authorised websocket without a close frame (the TCP connection just
        ends) once ``after_frames`` more frames were sent, ``times`` times: each drop rearms
        the count. With ``after_frames=0`` a drop happens now if a socket is open, else at
        the next authorised connection (so ``times=3`` drops three reconnects in a row)."""
        self.mercury.arm_drop(times, after_frames)

    def ws_expire_device(self, device: str) -> None:
        """Forget a device (its ``url``, ``webSocketUrl`` or uuid), as Webex sometimes does:
        its handshakes answer 404, its open sockets are closed (code 4404) and
        ``GET {wdm}/devices`` no longer lists it."""
        self.mercury.expire_device(device.rstrip("/").rsplit("/", 1)[-1].split("?")[0])

    def ws_resend_unacked(self, after_seconds: float) -> None:
        """Send a frame again (the same frame, same ``id``), once, when no ``ack`` with its
        id arrived within ``after_seconds`` (real seconds): a slow client must dedupe."""
        with self.mercury.lock:
            self.mercury.resend_after = after_seconds

    def ws_send_raw(self, data: str | bytes) -> None:
        """Send ``data`` as it is (text or binary frame) to every authorised websocket."""
        self.mercury.send_raw(data)

    def ws_delay_handshake(self, seconds: float) -> None:
        """Wait ``seconds`` (real) before answering each websocket handshake (0 disables)."""
        with self.mercury.lock:
            self.mercury.handshake_delay = seconds

    def webhook_status(self, webhook_id: str) -> str | None:
        with self.state.lock:
            hook = self.state.webhooks.get(webhook_id)
            return hook.status if hook else None

    # --- OAuth -------------------------------------------------------------------------------
    def register_oauth_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        *,
        name: str = "Fake Integration",
    ) -> OAuthClient:
        """Register an integration for ``/authorize`` and ``/access_token``."""
        client = OAuthClient(client_id, client_secret, list(redirect_uris), name)
        with self.state.lock:
            self.state.oauth_clients[client_id] = client
        return client

    # --- faults ------------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: float | str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        message: str | None = None,
        person: Person | str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (Webex error body).
        ``retry_after`` may be a malformed string (e.g. ``"rand(30),add(30)"``); ``path`` is
        a prefix without ``/v1`` ("/messages"); ``person`` (a Person, id or e-mail) limits the
        rule to requests made with that person's tokens."""
        person_id = None
        if person is not None:
            found = person if isinstance(person, Person) else self.person(person)
            if found is None:
                raise ValueError(f"no such person: {person!r}")
            person_id = found.id
        rule = FaultRule(status, times, retry_after, method, path, message, person_id)
        with self.faults._lock:
            self.faults.rules.append(rule)

    def set_rate_limit(
        self,
        per_second: float | None = None,
        per_minute: float | None = None,
        *,
        retry_after: float | str | None = None,
    ) -> None:
        """Per-token rate limit (429 + Retry-After when exceeded); no arguments disables it."""
        self.faults.rate_limit = RateLimit(per_second, per_minute, retry_after)

    def drop_next_connection(self, times: int = 1, *, path: str | None = None) -> None:
        """Hang up on the next ``times`` requests without answering."""
        self.faults.drops, self.faults.drop_path = times, path

    def set_latency(self, seconds: float, *, path: str | None = None) -> None:
        """Add ``seconds`` of real delay before answering (0 disables)."""
        self.faults.latency, self.faults.latency_path = seconds, path

    @property
    def quirks(self) -> Quirks:
        """Known Webex service faults to emulate (``next_link_max_null``, ...)."""
        return self.faults.quirks

    def reset_faults(self) -> None:
        """Drop armed failures, drops, latency, the rate limit, quirks and the websocket
        faults (``ws_drop``, ``ws_resend_unacked``, ``ws_delay_handshake``)."""
        self.mercury.reset_faults()
        with self.faults._lock:
            self.faults.rules.clear()
            self.faults.drops = 0
            self.faults.latency = 0.0
            self.faults.rate_limit = RateLimit()
            self.faults.quirks = Quirks()
            self.faults._hits.clear()

    def reset(self) -> None:
        """Forget everything (people, rooms, webhooks, tokens, faults, logs) but keep serving
        on the same port: for a session-wide server shared by many tests."""
        self.wait_for_idle()
        self.reset_faults()
        self.mercury.reset()
        with self.state.lock:
            self.state = State(self.clock)
        with self._requests_lock:
            self._requests.clear()
        with self.dispatcher.cond:
            self.dispatcher.deliveries.clear()
        self.unexpected_errors.clear()

    # --- observation -------------------------------------------------------------------------
    def _record(self, rec: RecordedRequest) -> None:
        with self._requests_lock:
            self._requests.append(rec)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request answered (helpers' own calls excluded)."""
        with self._requests_lock:
            return list(self._requests)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests matched ``method`` and ``path`` (with or without ``/v1``)."""
        if path is not None and path.startswith("/v1/"):
            path = path[3:]
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or r.path.rstrip("/") == path.rstrip("/"))
        )

    @property
    def deliveries(self) -> list[Delivery]:
        """Webhook deliveries attempted so far (successful or not), in order."""
        with self.dispatcher.cond:
            return list(self.dispatcher.deliveries)

    def wait_for_deliveries(self, n: int, timeout: float = 10.0) -> list[Delivery]:
        """Block until at least ``n`` deliveries were attempted; TimeoutError otherwise."""
        return self.dispatcher.wait(n, timeout)

    def wait_for_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted."""
        return self.dispatcher.idle(timeout)

    def messages_in(self, room_id: str) -> list[dict[str, Any]]:
        """Messages of a room, newest first, as JSON (state inspection, no auth)."""
        with self.state.lock:
            msgs = sorted(
                (m for m in self.state.messages.values() if m.room_id == room_id),
                key=lambda m: m.seq,
                reverse=True,
            )
            return [self.state.message_json(m, self.base_url) for m in msgs]

    def __repr__(self) -> str:
        return f"<FakeWebex {self.base_url}>"


class Obj(dict):  # type: ignore[type-arg]
    """A JSON dict whose keys also read as attributes (``room.id``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _multipart(form: dict[str, str], file: tuple[str, bytes, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in form.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    name, data, ctype = file
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
