"""``manage.py webexteams_listen``: receive events over the websocket, without a public URL.

Runs until SIGTERM or SIGINT (Ctrl-C), which let the event in hand finish and exit 0; a token
Webex refuses at discovery exits 1 with one line. Events become the same delivery rows and
signals as webhook deliveries (``transport="websocket"``). See docs/deployment.md.
"""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from django_webexteams.listener import Listener, ListenerError
from django_webexteams.models import Credential


class Command(BaseCommand):
    help = (
        "Receive Webex events over the websocket (no public URL needed) and dispatch them "
        "like webhook deliveries. Default: the bot token from settings."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--credential",
            action="append",
            dest="credentials",
            default=[],
            metavar="ID_OR_NAME",
            help="A stored credential (primary key or name); repeat for several.",
        )
        parser.add_argument(
            "--u2c-url", help="The catalog URL (default: LISTENER_U2C_URL; a fake's u2c_url)."
        )
        parser.add_argument("--device-name", help="Default: LISTENER_DEVICE_NAME.")
        parser.add_argument(
            "--delete-device",
            action="store_true",
            help="Delete the device at Webex on exit (default: keep it for the next start).",
        )

    def _credential(self, value: str) -> Credential:
        query = Q(name=value)
        if value.isdigit():
            query |= Q(pk=int(value))
        found = list(Credential.objects.filter(query, is_active=True)[:2])
        if len(found) != 1:
            raise CommandError(
                f"{'No' if not found else 'More than one'} active credential matches {value!r}."
            )
        return found[0]

    def handle(self, *args: Any, **options: Any) -> None:
        targets: list[Credential | None] = [self._credential(v) for v in options["credentials"]]
        if not targets:
            targets = [None]  # the bot token from settings
        listeners = [
            Listener(
                credential,
                u2c_url=options.get("u2c_url"),
                device_name=options.get("device_name"),
                delete_device=options["delete_device"],
                out=lambda line: self.stdout.write(line),
            )
            for credential in targets
        ]

        def stop(signum: int, _frame: Any) -> None:
            self.stderr.write(f"webexteams_listen: {signal.Signals(signum).name}, stopping")
            for listener in listeners:
                listener.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        errors: list[str] = []

        def run(listener: Listener) -> None:
            try:
                listener.run()
            except ListenerError as exc:
                errors.append(str(exc))
                for other in listeners:
                    other.stop()

        try:
            threads = [
                threading.Thread(target=run, args=(lst,), name=f"webexteams-listen-{i}")
                for i, lst in enumerate(listeners[1:], 1)
            ]
            for thread in threads:
                thread.start()
            run(listeners[0])  # the first in this (the signal-handling) thread
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for listener in listeners:
            self.stdout.write(f"webexteams_listen: stopped; {listener.stats.summary()}")
        if errors:
            raise CommandError(f"webexteams_listen: {errors[0]}")
