"""Step 6: the listener. Connect, authorise, store then acknowledge each event, and stay
connected: capped exponential backoff with jitter, a new device only on a stale-device 404,
protocol pings, and a REST catch-up after each reconnect.

Delivery guarantees (docs/deployment.md):
- an event is acknowledged only once its delivery row is committed (``accept_delivery``'s
  ``on_stored``), so a crash before the commit leaves it unacknowledged;
- every event has the dedupe key the webhook receiver would give it, so an event stored twice
  (a resend, a catch-up, the same event through a webhook) is dispatched once;
- a stop (SIGTERM/SIGINT, :meth:`Listener.stop`) lets the event in hand finish, then closes.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import close_old_connections, connections
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from django_webexteams import conf
from django_webexteams.client import UnauthorizedError, WebexClient, WebexError
from django_webexteams.clients import bot_token, client_for
from django_webexteams.listener.catchup import missed_messages
from django_webexteams.listener.devices import Devices
from django_webexteams.listener.discovery import DiscoveryError, Services, discover
from django_webexteams.listener.frames import Frame, MalformedFrameError, parse_frame
from django_webexteams.listener.resolve import Resolver, UnresolvableError
from django_webexteams.models import Credential, WebhookDelivery
from django_webexteams.webhooks.queue import dispatch_mode
from django_webexteams.webhooks.store import accept_delivery

__all__ = ["Listener", "ListenerError", "ListenerStats"]

logger = logging.getLogger("django_webexteams.listener")

#: Close codes with which the socket refuses our authorisation.
_REFUSED = frozenset({1008, 4400, 4401, 4403})
#: Handshake 404s in a row, each answered with a new device, before giving up.
_MAX_STALE = 3


class ListenerError(Exception):
    """The listener cannot run (a refused token, no device service); the message is one line
    for the operator and never contains the token."""


@dataclass
class ListenerStats:
    """What one listener did; :meth:`summary` is the line printed on exit."""

    frames: int = 0
    stored: int = 0
    duplicates: int = 0
    own: int = 0
    ignored: int = 0
    malformed: int = 0
    unresolved: int = 0
    failed: int = 0
    acks: int = 0
    connects: int = 0
    stale_devices: int = 0
    devices_registered: int = 0
    caught_up: int = 0
    rest_calls: int = 0

    def summary(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


class Listener:
    """Receives one identity's events over the websocket (``credential=None``: the bot token
    from settings). :meth:`run` blocks until :meth:`stop`; it raises :class:`ListenerError`
    when it cannot run at all."""

    def __init__(
        self,
        credential: Credential | None = None,
        *,
        u2c_url: str | None = None,
        device_name: str | None = None,
        delete_device: bool = False,
        out: Callable[[str], Any] = logger.info,
    ) -> None:
        self.credential = credential
        self.u2c_url = u2c_url or str(conf.get("LISTENER_U2C_URL"))
        self.device_name = device_name or str(conf.get("LISTENER_DEVICE_NAME"))
        self.delete_device = delete_device
        self.out = out
        self.ping = float(conf.get("LISTENER_PING_SECONDS"))
        self.backoff_max = float(conf.get("LISTENER_BACKOFF_MAX_SECONDS"))
        self.catchup = float(conf.get("LISTENER_CATCHUP_SECONDS"))
        self.stats = ListenerStats()
        self._stop = threading.Event()
        self._ws: Connection | None = None
        self.connected = threading.Event()  # set while a socket is open and authorised

    # -- control --------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the event in hand, then close and return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _token(self) -> str:
        if self.credential is not None:
            return self.credential.current_access_token()
        token = bot_token()
        if token is None:
            raise ListenerError('no credential was given and WEBEXTEAMS["BOT_TOKEN"] is not set')
        return token

    def _client(self) -> WebexClient:
        extra = tuple(conf.get("LISTENER_TRUSTED_HOSTS") or ())
        client = client_for(self.credential)
        if extra:
            client.transport.trusted_hosts = client.transport.trusted_hosts | {
                h.lower() for h in extra
            }
        return client

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> ListenerStats:
        try:
            return self._run()
        finally:
            connections.close_all()  # this thread's connections

    def _run(self) -> ListenerStats:
        client = self._client()
        try:
            services = discover(client, self.u2c_url)
            me = client.people.me().raw
        except DiscoveryError as exc:
            raise ListenerError(str(exc)) from None
        except WebexError as exc:
            raise ListenerError(f"Webex refused the listener's first requests: {exc}") from None
        resolver = Resolver(client, me, own_events=bool(conf.get("WEBHOOK_DISPATCH_OWN_EVENTS")))
        devices = Devices(client, services.wdm, self.device_name)
        device = devices.find_or_create()
        self.out(
            f"webexteams_listen: listening as {me.get('displayName') or me.get('id')} "
            f"({self._label()}) on device {device.get('url')}; dispatch "
            f"{dispatch_mode()}; a dead connection is noticed within {2 * self.ping:g} s"
        )
        since = self._resume_point()
        attempt = 0
        stale = 0
        try:
            while not self.stopping:
                connected_at = datetime.now(UTC)
                try:
                    self._session(client, services, resolver, device, since)
                    attempt = 0
                    stale = 0
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    if status == 404:
                        # Stale device: replaced once per 404, never on other errors.
                        stale += 1
                        self.stats.stale_devices += 1
                        if stale > _MAX_STALE:
                            raise ListenerError(
                                f"the websocket answered 404 for {stale} devices in a row"
                            ) from None
                        logger.warning("Webex device is stale (handshake 404); replacing it")
                        device = devices.replace(device)
                        continue
                    logger.warning("Websocket handshake refused with HTTP %s", status)
                    attempt += 1
                except _TokenRefused:
                    self._check_token(client)
                    attempt += 1
                except (OSError, TimeoutError, WebSocketException, WebexError) as exc:
                    logger.warning("Websocket connection lost: %s", type(exc).__name__)
                    attempt += 1
                finally:
                    self.stats.devices_registered = devices.registered
                    self.connected.clear()
                if self.stopping:
                    break
                # What the socket may have missed: from when the connection may have died (a
                # silent death is noticed within two ping intervals), not before it opened.
                lost_at = datetime.now(UTC) - timedelta(seconds=2 * self.ping + 5)
                since = max(connected_at - timedelta(seconds=5), lost_at)
                self._stop.wait(self._delay(attempt))
        finally:
            if self.delete_device:
                devices.delete(device)
            self.stats.rest_calls = resolver.calls
            self.stats.devices_registered = devices.registered
        return self.stats

    def _label(self) -> str:
        return f"credential {self.credential.pk}" if self.credential else "BOT_TOKEN"

    def _delay(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (half to all of the capped step)."""
        if attempt <= 0:
            return 0.0
        step = min(self.backoff_max, 0.5 * 2 ** min(attempt, 16))
        return float(step * random.uniform(0.5, 1.0))

    def _check_token(self, client: WebexClient) -> None:
        """The socket refused our authorisation: a token Webex refuses everywhere ends the
        run; otherwise retry (with backoff)."""
        try:
            client.people.me()
        except UnauthorizedError:
            raise ListenerError("the token was refused (401): check the credential") from None
        except WebexError:
            pass  # Webex is unwell: retry later

    def _resume_point(self) -> datetime | None:
        """At start: catch up since this identity's newest websocket delivery, at most
        ``LISTENER_CATCHUP_SECONDS`` back (nothing on a first start: a new bot does not answer
        old messages)."""
        if self.catchup <= 0:
            return None
        newest = (
            WebhookDelivery.objects.filter(
                transport=WebhookDelivery.Transport.WEBSOCKET, credential=self.credential
            )
            .order_by("-received_at")
            .values_list("received_at", flat=True)
            .first()
        )
        if newest is None:
            return None
        return max(
            newest - timedelta(seconds=5), datetime.now(UTC) - timedelta(seconds=self.catchup)
        )

    # -- one connection -------------------------------------------------------------------
    def _session(
        self,
        client: WebexClient,
        services: Services,
        resolver: Resolver,
        device: dict[str, Any],
        since: datetime | None,
    ) -> None:
        url = str(device.get("webSocketUrl") or "")
        parts = urlsplit(url)
        # SECURITY: the token goes over this socket: TLS, unless the API itself is a local
        # plain-HTTP fake; and only to a host the device service (a catalog host) named.
        local = conf.api_base_url().startswith("http://")
        if parts.scheme != "wss" and not (parts.scheme == "ws" and local):
            raise ListenerError(f"refusing a websocket URL that is not wss:// ({parts.scheme})")
        with connect(
            url,
            open_timeout=10,
            ping_interval=self.ping,
            ping_timeout=self.ping,
            close_timeout=5,
            max_size=int(conf.get("LISTENER_MAX_FRAME_BYTES")),
            user_agent_header="django-webexteams listener",
        ) as ws:
            self._ws = ws
            ws.send(
                _json(
                    {
                        "id": str(uuid.uuid4()),
                        "type": "authorization",
                        "data": {"token": f"Bearer {self._token()}"},
                    }
                )
            )
            self.stats.connects += 1
            self.connected.set()
            if since is not None:
                self._catch_up(client, resolver, since)
            self._receive(ws, resolver)

    def _receive(self, ws: Connection, resolver: Resolver) -> None:
        while not self.stopping:
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code in _REFUSED:
                    raise _TokenRefused from None
                raise
            self._handle(ws, raw, resolver)
        ws.close()

    def _handle(self, ws: Connection, raw: str | bytes, resolver: Resolver) -> None:
        """One frame; never raises (a bad frame or a failing step is logged and counted)."""
        self.stats.frames += 1
        try:
            frame = parse_frame(raw)
        except MalformedFrameError as exc:
            self.stats.malformed += 1
            logger.warning("Skipped a malformed websocket frame: %s", exc)  # never its content
            return
        if frame.activity is None:
            self.stats.ignored += 1
            self._ack(ws, frame)
            return
        close_old_connections()
        before = resolver.calls
        try:
            payload = resolver.payload(frame.activity)
        except (UnresolvableError, WebexError, ValueError) as exc:
            # Not acknowledged: Webex may send it again; the catch-up may still find it.
            self.stats.unresolved += 1
            logger.warning(
                "Could not resolve websocket activity %s (%s): %s",
                frame.activity.id,
                frame.activity.verb,
                exc,
            )
            return
        except Exception:
            self.stats.failed += 1
            logger.exception("Resolving websocket activity %s failed", frame.activity.id)
            return
        if payload is None:
            if resolver.is_own(frame.activity):
                self.stats.own += 1
            else:
                self.stats.ignored += 1
            self._ack(ws, frame)
            return
        self._store(payload, on_stored=lambda _delivery: self._ack(ws, frame))
        logger.debug("activity %s cost %d REST calls", frame.activity.id, resolver.calls - before)

    def _store(self, payload: dict[str, Any], *, on_stored: Callable[[Any], Any] | None) -> bool:
        try:
            _delivery, created = accept_delivery(
                None,
                payload,
                credential=self.credential,
                transport=WebhookDelivery.Transport.WEBSOCKET,
                own_person_id=payload.get("createdBy"),
                on_stored=on_stored,
            )
        except Exception:
            # The database is down or refused the row: not acknowledged (Webex may resend;
            # the catch-up after the next reconnect may find it).
            self.stats.failed += 1
            logger.exception("Storing a websocket event failed")
            return False
        if created:
            self.stats.stored += 1
        else:
            self.stats.duplicates += 1
        return created

    def _ack(self, ws: Connection, frame: Frame) -> None:
        if frame.id is None:
            return
        try:
            ws.send(_json({"type": "ack", "messageId": frame.id}))
        except (ConnectionClosed, OSError):
            # The row is committed: the event is dispatched all the same. Webex may send it
            # again unacknowledged; its dedupe key makes that a duplicate. The loss itself is
            # noticed by the next recv().
            logger.info("Could not acknowledge frame %s: the socket is closed", frame.id)
            return
        self.stats.acks += 1

    def _catch_up(self, client: WebexClient, resolver: Resolver, since: datetime) -> None:
        is_bot = self.credential is None or self.credential.kind == Credential.Kind.BOT
        try:
            for payload in missed_messages(
                client, resolver, since, is_bot=is_bot, stopping=lambda: self.stopping
            ):
                if self._store(payload, on_stored=None):
                    self.stats.caught_up += 1
        except WebexError as exc:
            logger.warning("Catching up over REST failed: %s", exc)


class _TokenRefused(Exception):
    """The socket closed with an authorisation refusal."""


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
