"""``manage.py webexteams_fake_server``: run the fake Webex for local development and the
demo (a thin wrapper over ``django_webexteams.testing.runner``)."""

from __future__ import annotations

import errno
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Run the fake Webex on 127.0.0.1 (tokens it prints work only on the fake)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument(
            "--ws-port", type=int, default=0, help="websocket port (default: a free one)"
        )
        parser.add_argument("--seed", choices=["demo"], default=None)
        parser.add_argument("--redirect-uri", action="append", dest="redirect_uris")
        parser.add_argument("--json", action="store_true", dest="as_json")
        parser.add_argument("--rate-limit-per-minute", type=float, default=None)
        parser.add_argument("--control", action="store_true", help="loopback control API")

    def handle(self, *args: Any, **options: Any) -> None:
        from django_webexteams.testing.runner import run

        host, port = options["host"], options["port"]
        try:
            run(
                host=host,
                port=port,
                ws_port=options["ws_port"],
                seed=options["seed"],
                redirect_uris=options["redirect_uris"],
                as_json=options["as_json"],
                rate_limit_per_minute=options["rate_limit_per_minute"],
                control=options["control"],
                stdout=self.stdout,
            )
        except OSError as exc:
            # Binding the port is the one OSError a newcomer meets here: one line, what next.
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"Port {port} on {host} is already in use (another fake Webex, or make "
                    f"demo?). Stop it, or pick another port: --port {port + 1}"
                ) from exc
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
                raise CommandError(
                    f"Cannot listen on {host}:{port} ({exc.strerror}). Use --host 127.0.0.1 "
                    "and a port above 1024."
                ) from exc
            raise
