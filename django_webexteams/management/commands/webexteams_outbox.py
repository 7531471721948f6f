"""``manage.py webexteams_outbox``: look at the outbox and send failed messages again.

- ``list [--status failed] [--limit 50]``: newest first, one line per row.
- ``retry [PK ...] [--failed] [--stuck MINUTES]``: send failed rows again (the given ones, or
  every failed one with ``--failed``), and/or re-enqueue rows ``queued``/``sending`` that
  nothing touched for MINUTES (their task was lost).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_webexteams import messaging
from django_webexteams.models import OutboundMessage


class Command(BaseCommand):
    help = "List outbound Webex messages, send failed ones again, re-enqueue stuck ones."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="list outbound messages, newest first")
        ls.add_argument("--status", choices=[s.value for s in OutboundMessage.Status])
        ls.add_argument("--limit", type=int, default=50)
        retry = sub.add_parser("retry", help="send failed messages again")
        retry.add_argument("pks", nargs="*", type=int, metavar="PK")
        retry.add_argument("--failed", action="store_true", help="every failed message")
        retry.add_argument(
            "--stuck", type=float, metavar="MINUTES",
            help="also re-enqueue queued/sending rows untouched for this many minutes",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list(options["status"], options["limit"])
        else:
            self._retry(options["pks"], options["failed"], options["stuck"])

    def _list(self, status: str | None, limit: int) -> None:
        rows = OutboundMessage.objects.order_by("-created_at", "-pk")
        if status:
            rows = rows.filter(status=status)
        count = 0
        for row in rows[: max(0, limit)]:
            count += 1
            target = row.room_id or row.to_person_id or row.to_person_email
            preview = (row.text or row.markdown or row.file_name or "").replace("\n", " ")[:40]
            line = (
                f"{row.pk:>6}  {row.status:<8} attempts={row.attempts:<3} "
                f"{row.created_at:%Y-%m-%d %H:%M:%S}  {target[:24]:<24}  {preview}"
            )
            if row.status == OutboundMessage.Status.FAILED and row.last_error:
                line += f"\n        error: {row.last_error[:200]}"
            self.stdout.write(line)
        self.stdout.write(f"{count} message(s)")

    def _retry(self, pks: list[int], every_failed: bool, stuck: float | None) -> None:
        if not pks and not every_failed and stuck is None:
            raise CommandError("Name message pks, or pass --failed and/or --stuck MINUTES.")
        rows = OutboundMessage.objects.filter(status=OutboundMessage.Status.FAILED)
        if not every_failed:
            rows = rows.filter(pk__in=pks)
        found = {row.pk: row for row in rows}
        for pk in pks:
            if pk not in found:
                self.stderr.write(f"{pk}: not a failed outbound message, skipped")
        for row in found.values():
            messaging.resend(row)
            self.stdout.write(f"{row.pk}: queued again")
        if stuck is not None:
            count = messaging.requeue_stuck(timedelta(minutes=stuck))
            self.stdout.write(f"{count} stuck message(s) re-enqueued")
