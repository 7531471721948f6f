"""``manage.py webexteams_send``: send a Webex message from the shell.

Through the outbox and the Celery queue by default (like application code), or at once with
``--now`` (no worker needed: one attempt in this process; a retryable failure leaves the row
queued and is reported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from django_webexteams import messaging
from django_webexteams.client.files import is_url
from django_webexteams.models import Credential


class Command(BaseCommand):
    help = "Send a Webex message (through the Celery queue, or at once with --now)."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--room", metavar="ROOM_ID", help="a space id")
        target.add_argument("--person", metavar="PERSON_ID", help="a person id (1:1)")
        target.add_argument("--email", metavar="EMAIL", help="a person's e-mail (1:1)")
        parser.add_argument("--text", help="plain text")
        parser.add_argument("--markdown", help="Markdown")
        parser.add_argument("--file", help="a local path or a URL to attach")
        parser.add_argument("--parent", metavar="MESSAGE_ID", help="reply in this thread")
        parser.add_argument(
            "--credential", type=int, metavar="PK",
            help="send as this stored Credential (default: WEBEXTEAMS['BOT_TOKEN'])",
        )  # fmt: skip
        parser.add_argument("--idempotency-key", help="a repeated call returns the first row")
        parser.add_argument(
            "--now", action="store_true",
            help="send synchronously in this process instead of through the queue",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        credential = None
        if options["credential"] is not None:
            credential = Credential.objects.filter(pk=options["credential"]).first()
            if credential is None:
                raise CommandError(f"No credential with pk {options['credential']}")
        now = bool(options["now"])
        try:
            with transaction.atomic():
                row = messaging.send_message(
                    room_id=options["room"],
                    to_person_id=options["person"],
                    to_person_email=options["email"],
                    text=options["text"],
                    markdown=options["markdown"],
                    parent_id=options["parent"],
                    file=_file_argument(options["file"]),
                    credential=credential,
                    idempotency_key=options["idempotency_key"],
                    enqueue=not now,
                )
        except messaging.InvalidMessageError as exc:
            raise CommandError(str(exc)) from exc
        if not now:
            self.stdout.write(f"Queued outbound message {row.pk} ({row.status}).")
            return
        if row.status == row.Status.SENT:
            self.stdout.write(f"Outbound message {row.pk} was already sent.")
            return
        result = messaging.deliver(row.pk)
        row.refresh_from_db()
        if result.outcome == "sent":
            self.stdout.write(
                self.style.SUCCESS(f"Sent outbound message {row.pk}: {row.webex_message_id}")
            )
        elif result.outcome == "retry":
            raise CommandError(
                f"Not sent yet ({row.last_error or result.reason}); outbound message {row.pk} "
                f"stays queued: retry in about {result.countdown or 0:.0f}s with "
                "manage.py webexteams_outbox retry --stuck 0, or let a worker send it."
            )
        else:
            raise CommandError(
                f"Outbound message {row.pk} {result.outcome}: {row.last_error or result.reason}"
            )


def _file_argument(value: str | None) -> str | Path | None:
    """The operator's ``--file``: a URL stays a URL, anything else is a local path (the
    person at the shell may read their own files; send_message takes strings as URLs only)."""
    if value is None or is_url(value):
        return value
    return Path(value)
