"""What the demo runs on: ports, files under var/, the broker and the shared cache.

Everything the children (fake Webex, test project, Celery worker) need is passed to them as
environment variables, the same ones a deployment sets (testproject/settings.py reads them with
django-environ). Environment knobs of the demo itself:

``DEMO_WEB_PORT`` / ``DEMO_FAKE_PORT``
    ports on 127.0.0.1 (default 8000 / 8900), so that a second demo (the test suite's) does
    not collide with one a developer is running.
``DEMO_VAR_DIR``
    where the database, broker folders, cache and logs go (default ``var/``).
``DEMO_ONCE``
    run the story and exit (0 only when every step passed) instead of serving on.
``CELERY_BROKER_URL``
    use this broker; otherwise Redis on 127.0.0.1:6379 when it answers, else kombu's
    filesystem transport under ``var/`` (no server needed). ``DEMO_NO_REDIS=1`` skips the
    Redis probe (to try the no-server path on a machine that has Redis).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


class DemoError(Exception):
    """A problem the user can fix (a port in use, ...): printed as one clear message."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise DemoError(f"{name}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise DemoError(f"{name}={port} is not a port number (1-65535)")
    return port


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (or it cannot be bound at all).

    SO_REUSEADDR as the servers use it, so a socket lingering in TIME_WAIT after the last demo
    does not count as "in use"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def redis_answers(host: str = HOST, port: int = 6379) -> bool:
    """A real PING, not just an open port: something else may listen on 6379."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class DemoConfig:
    var: Path
    web_port: int
    fake_port: int
    once: bool
    broker_kind: str  # "redis", "filesystem" or "given"
    broker_url: str
    cache_url: str
    transport_options: dict[str, object] = field(default_factory=dict)
    #: How events reach the test project: "webhook" (signed POSTs) or "websocket" (the
    #: listener, manage.py webexteams_listen). DEMO_TRANSPORT.
    events: str = "webhook"

    @property
    def u2c_url(self) -> str:
        return f"{self.fake_url}/u2c/api/v1/catalog"

    @property
    def web_url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    @property
    def fake_url(self) -> str:
        return f"http://{HOST}:{self.fake_port}"

    @property
    def db_path(self) -> Path:
        return self.var / "demo.sqlite3"

    @property
    def work(self) -> Path:
        """var/demo/: broker folders, cache, media and logs of this demo."""
        return self.var / "demo"

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    @property
    def queue(self) -> str:
        # One queue (and cache prefix) per demo: two demos sharing a Redis never take each
        # other's tasks, whose primary keys point into another database.
        return f"webexteams-demo-{self.web_port}"

    def child_env(self, *, bot_token: str, client_id: str, client_secret: str) -> dict[str, str]:
        """The environment of every child process (and of the demo's own Django setup)."""
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
            "DJANGO_DEBUG": "true",  # runserver serves the admin's CSS; loopback only
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # IMMEDIATE: SQLite takes the write lock when a transaction starts, so the web
            # process, the worker and the demo wait for each other instead of failing with
            # "database is locked" when two try to upgrade a read lock at once.
            "DATABASE_URL": f"sqlite:///{self.db_path}?transaction_mode=IMMEDIATE",
            "DJANGO_MEDIA_ROOT": str(self.work / "media"),
            "WEBEX_API_BASE_URL": f"{self.fake_url}/v1",
            "WEBEX_BOT_TOKEN": bot_token,
            "WEBEX_CLIENT_ID": client_id,
            "WEBEX_CLIENT_SECRET": client_secret,
            "WEBHOOK_BASE_URL": self.web_url,
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(self.transport_options),
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CACHE_URL": self.cache_url,
            "CACHE_KEY_PREFIX": self.queue,
            "WEBEX_LOG_LEVEL": os.environ.get("WEBEX_LOG_LEVEL", "INFO"),
        }
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        env.pop("WEBEXTEAMS_EXTRA", None)
        return env

    def describe_broker(self) -> str:
        if self.broker_kind == "filesystem":
            return f"kombu filesystem transport in {self.work / 'broker'} (no Redis found)"
        if self.broker_kind == "redis":
            return f"Redis at {self.broker_url} (queue {self.queue})"
        return f"{self.broker_url.split('@')[-1]} (CELERY_BROKER_URL)"


def from_env() -> DemoConfig:
    var = Path(os.environ.get("DEMO_VAR_DIR") or ROOT / "var").resolve()
    web_port = _port("DEMO_WEB_PORT", 8000)
    fake_port = _port("DEMO_FAKE_PORT", 8900)
    if web_port == fake_port:
        raise DemoError("DEMO_WEB_PORT and DEMO_FAKE_PORT must differ")
    events = (os.environ.get("DEMO_TRANSPORT") or "webhook").strip().lower()
    if events not in ("webhook", "websocket"):
        raise DemoError(f"DEMO_TRANSPORT must be webhook or websocket, not {events!r}")
    work = var / "demo"
    given = os.environ.get("CELERY_BROKER_URL", "").strip()
    redis = not _flag("DEMO_NO_REDIS") and redis_answers()
    options: dict[str, object] = {}
    if given:
        kind, broker = "given", given
    elif redis:
        kind, broker = "redis", f"redis://{HOST}:6379/0"
        options = {"visibility_timeout": 3600}
    else:
        kind, broker = "filesystem", "filesystem://"
        folder = str(work / "broker" / "queue")
        # Producer (web, demo) writes to data_folder_out, consumer (worker) reads
        # data_folder_in: the same folder, so they meet.
        options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(work / "broker" / "control"),
            "store_processed": False,
        }
    if kind == "redis" or (kind == "given" and given.startswith(("redis://", "rediss://"))):
        # The shared rate-limit gate lives in Redis too (atomic there).
        cache = os.environ.get("CACHE_URL") or (given if kind == "given" else broker)
    else:
        # A file cache under var/: the web process and the worker see the same gate.
        cache = os.environ.get("CACHE_URL") or f"filecache://{work / 'cache'}"
    return DemoConfig(
        var=var,
        web_port=web_port,
        fake_port=fake_port,
        once=_flag("DEMO_ONCE"),
        broker_kind=kind,
        broker_url=broker,
        cache_url=cache,
        transport_options=options,
        events=events,
    )
