"""``manage.py webexteams_deliveries``: reprocess or prune stored webhook deliveries.

- ``reprocess``: dispatch failed deliveries again (``--id`` for chosen ones, ``--status
  received`` for ones whose dispatch never ran, e.g. the broker was down, or whose outcome
  a database crash lost). Receivers see the events again, so they should be idempotent.
  ``--status received`` skips rows younger than ``--min-age`` seconds (default 300): a
  delivery being dispatched right now is "received" too, and must not run twice.
- ``prune``: delete deliveries older than ``--days`` (default ``DELIVERY_RETENTION_DAYS``).
"""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from django_webexteams import webhooks
from django_webexteams.models import WebhookDelivery


class Command(BaseCommand):
    help = "Reprocess failed webhook deliveries, or prune old ones."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        p = sub.add_parser("reprocess", help="Dispatch failed deliveries again.")
        p.add_argument("--id", type=int, action="append", dest="ids", help="Delivery id.")
        p.add_argument(
            "--status",
            choices=["failed", "received"],
            default="failed",
            help="Which deliveries (default: failed).",
        )
        p.add_argument(
            "--min-age",
            type=int,
            default=300,
            help="With --status received: only deliveries received at least this many "
            "seconds ago (default 300), so one in flight is not dispatched twice.",
        )
        p.add_argument("--limit", type=int, default=1000)
        p.add_argument(
            "--sync",
            action="store_true",
            help="Run the receivers in this process even when WEBHOOK_DISPATCH is celery.",
        )

        p = sub.add_parser("prune", help="Delete old deliveries.")
        p.add_argument("--days", type=int, default=None)
        p.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "prune":
            self.prune(options)
        else:
            self.reprocess(options)

    def reprocess(self, options: dict[str, Any]) -> None:
        query = WebhookDelivery.objects.order_by("received_at")
        if options["ids"]:
            query = query.filter(pk__in=options["ids"])
        else:
            query = query.filter(status=options["status"])
            if options["status"] == WebhookDelivery.Status.RECEIVED:
                # A delivery is "received" from its INSERT until its dispatch records an
                # outcome (milliseconds in sync mode; until a worker runs it with Celery).
                cutoff = timezone.now() - timedelta(seconds=max(0, options["min_age"]))
                query = query.filter(received_at__lte=cutoff)
        deliveries = list(query[: options["limit"]])
        sync = True if options["sync"] else None
        for delivery in deliveries:
            webhooks.reprocess_delivery(delivery, sync=sync)
        if sync or webhooks.dispatch_mode() == "sync":
            counts: dict[str, int] = {}
            for status in WebhookDelivery.objects.filter(
                pk__in=[d.pk for d in deliveries]
            ).values_list("status", flat=True):
                counts[status] = counts.get(status, 0) + 1
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing"
            self.stdout.write(f"Reprocessed {len(deliveries)} deliveries: {detail}.")
        else:
            self.stdout.write(f"Enqueued {len(deliveries)} deliveries for reprocessing.")

    def prune(self, options: dict[str, Any]) -> None:
        try:
            count = webhooks.prune_deliveries(options["days"], dry_run=options["dry_run"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} webhook deliveries.")
