"""Run the fake as a standalone server (``python -m django_webexteams.testing`` and
``manage.py webexteams_fake_server`` share this)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import Any, Protocol

from .fake import FakeWebex
from .seed import SEEDS


class Writer(Protocol):
    """Where the banner goes: a text stream or Django's ``OutputWrapper``."""

    def write(self, s: str) -> Any: ...

    def flush(self) -> Any: ...


def describe(fake: FakeWebex, seeded: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"base_url": fake.base_url, "people": {}}
    if seeded:
        for key, person in seeded["people"].items():
            out["people"][key] = {
                "id": person.id,
                "email": person.email,
                "display_name": person.display_name,
                "type": person.type,
                "token": person.token,
            }
        out["room_id"] = seeded["room"]["id"]
        out["team_id"] = seeded["team"]["id"]
        client = seeded["oauth"]
        out["oauth"] = {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uris": client.redirect_uris,
            "authorize_url": fake.authorize_url,
            "token_url": fake.token_url,
        }
    return out


def run(
    *,
    host: str = "127.0.0.1",
    port: int = 8900,
    ws_port: int = 0,
    seed: str | None = None,
    redirect_uris: list[str] | None = None,
    as_json: bool = False,
    stdout: Writer | None = None,
    stop_event: threading.Event | None = None,
    rate_limit_per_minute: float | None = None,
    control: bool = False,
) -> None:
    """Serve until interrupted (or ``stop_event`` is set), after printing the seeded people
    and their tokens (these tokens only ever work on the fake)."""
    out: Writer = stdout or sys.stdout
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fake = FakeWebex(host=host, port=port, ws_port=ws_port, control=control)
    fake.start()
    try:
        seeded = None
        if seed:
            if seed not in SEEDS:
                raise SystemExit(f"unknown seed {seed!r}; choose from {', '.join(SEEDS)}")
            kwargs = {"redirect_uris": redirect_uris} if redirect_uris else {}
            seeded = SEEDS[seed](fake, **kwargs)
        if rate_limit_per_minute:
            fake.set_rate_limit(per_minute=rate_limit_per_minute)
        info = describe(fake, seeded)
        if control:
            info["control_url"] = fake.url + "/_fake/"
        if as_json:
            out.write(json.dumps(info, indent=2) + "\n")
        else:
            out.write(f"Fake Webex serving on {fake.base_url}\n")
            ws = f"ws://{fake.host}:{fake.ws_port}"
            out.write(f"  websockets on {ws} (devices: {fake.u2c_url})\n")
            for key, p in info["people"].items():
                out.write(f"  {key:<6} {p['type']:<6} {p['email']:<24} token: {p['token']}\n")
            if "oauth" in info:
                o = info["oauth"]
                out.write(
                    f"  oauth  client_id={o['client_id']} client_secret={o['client_secret']}\n"
                )
                out.write(f"         redirect_uris={', '.join(o['redirect_uris'])}\n")
            if control:
                out.write(f"  control API (loopback only): {fake.url}/_fake/\n")
            out.write("Press Ctrl-C to stop.\n")
        out.flush()
        stop = stop_event or threading.Event()
        if stop_event is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        fake.stop()
