"""``manage.py webexteams_webhooks``: manage webhook registrations at Webex.

Subcommands: ``list`` (``--remote`` asks Webex), ``register``, ``delete``, ``sync``,
``reactivate``, ``rotate-secret``, ``check``. A webhook is named by its local id, its uuid
or its Webex id. Secrets are never printed.
"""

from __future__ import annotations

import shlex
import uuid
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_webexteams import webhooks
from django_webexteams.client import NotFoundError, WebexError
from django_webexteams.models import Credential, Webhook


def find_webhook(ref: str) -> Webhook:
    """The row named by ``ref``: a local primary key, a uuid or a Webex id."""
    query = Webhook.objects.select_related("credential")
    found: Webhook | None = None
    if ref.isdigit():
        found = query.filter(pk=int(ref)).first()
    if found is None:
        try:
            found = query.filter(uuid=uuid.UUID(ref)).first()
        except ValueError:
            found = None
    if found is None:
        found = query.filter(webex_id=ref).first()
    if found is None:
        raise CommandError(f"No webhook {ref!r} (give its id, uuid or Webex id).")
    return found


def register_again_hint(webhook: Webhook) -> str:
    """The command that registers ``webhook`` again (one line, ready to paste)."""
    parts = [
        "manage.py webexteams_webhooks register",
        f"--name {shlex.quote(webhook.name)}",
        f"--resource {webhook.resource}",
        f"--event {webhook.event}",
    ]
    if webhook.filter:
        parts.append(f"--filter {shlex.quote(webhook.filter)}")
    if webhook.credential_id:
        parts.append(f"--credential {webhook.credential_id}")
    return " ".join(parts)


@contextmanager
def _gone_at_webex(webhook: Webhook) -> Iterator[None]:
    """A webhook Webex no longer has (404), or never had (no Webex id): one line saying so,
    with the command that registers it again; the row is marked missing."""
    try:
        yield
    except (NotFoundError, ValueError) as exc:
        if isinstance(exc, ValueError) and webhook.webex_id:
            raise
        Webhook.objects.filter(pk=webhook.pk).update(status=Webhook.Status.MISSING)
        where = "is gone at Webex (404)" if webhook.webex_id else "was never registered at Webex"
        raise CommandError(
            f"Webhook {webhook.pk} ({webhook.name}) {where}; register it again: "
            f"{register_again_hint(webhook)}"
        ) from exc


def find_credential(ref: int | None) -> Credential | None:
    if ref is None:
        return None
    credential = Credential.objects.filter(pk=ref).first()
    if credential is None:
        raise CommandError(f"No credential with id {ref}.")
    return credential


class Command(BaseCommand):
    help = "Manage Webex webhook registrations (list, register, delete, sync, reactivate, ...)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        cred_help = "Credential id (default: WEBEXTEAMS['BOT_TOKEN'])."

        p = sub.add_parser("list", help="List registered webhooks.")
        p.add_argument("--remote", action="store_true", help="List what Webex holds instead.")
        p.add_argument("--credential", type=int, help=cred_help)

        p = sub.add_parser("register", help="Register a webhook at Webex.")
        p.add_argument("--name", required=True)
        p.add_argument("--resource", required=True, help="e.g. messages, memberships, all")
        p.add_argument("--event", required=True, help="e.g. created, deleted, all")
        p.add_argument("--filter", default=None, help="e.g. roomId=...")
        p.add_argument("--credential", type=int, help=cred_help)

        p = sub.add_parser("delete", help="Delete a webhook at Webex and locally.")
        p.add_argument("webhook", help="local id, uuid or Webex id")
        p.add_argument("--keep-row", action="store_true", help="Keep the row (and deliveries).")

        p = sub.add_parser("sync", help="Make local rows agree with Webex.")
        p.add_argument("--credential", type=int, help=cred_help)

        p = sub.add_parser("reactivate", help="Set a disabled webhook active again.")
        p.add_argument("webhook", help="local id, uuid or Webex id")

        p = sub.add_parser("rotate-secret", help="Give a webhook a new secret.")
        p.add_argument("webhook", help="local id, uuid or Webex id")

        sub.add_parser("check", help="Read every webhook's status at Webex now.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        handler = getattr(self, "do_" + action.replace("-", "_"))
        try:
            handler(options)
        except WebexError as exc:
            # ApiError's text carries status, Webex's message and the tracking id; no token.
            raise CommandError(f"Webex refused: {exc}") from exc

    def _line(self, webhook: Webhook) -> str:
        who = f"credential {webhook.credential_id}" if webhook.credential_id else "bot token"
        return (
            f"{webhook.pk}\t{webhook.uuid}\t{webhook.status}\t{webhook.resource}:{webhook.event}"
            f"\t{webhook.name}\t{webhook.target_url}\t{webhook.webex_id or '-'}\t{who}"
        )

    def do_list(self, options: dict[str, Any]) -> None:
        if options["remote"]:
            credential = find_credential(options["credential"])
            for item in webhooks.list_remote_webhooks(credential):
                self.stdout.write(
                    f"{item.id}\t{item.status}\t{item.resource}:{item.event}\t{item.name}"
                    f"\t{item.target_url}"
                )
            return
        for webhook in Webhook.objects.all():
            self.stdout.write(self._line(webhook))

    def do_register(self, options: dict[str, Any]) -> None:
        webhook = webhooks.register_webhook(
            name=options["name"],
            resource=options["resource"],
            event=options["event"],
            filter=options["filter"],
            credential=find_credential(options["credential"]),
        )
        self.stdout.write(self.style.SUCCESS(f"Registered: {self._line(webhook)}"))

    def do_delete(self, options: dict[str, Any]) -> None:
        webhook = find_webhook(options["webhook"])
        label = self._line(webhook)
        existed = webhooks.delete_webhook(webhook, keep_row=options["keep_row"])
        note = "" if existed else " (it was already gone at Webex)"
        self.stdout.write(self.style.SUCCESS(f"Deleted{note}: {label}"))

    def do_sync(self, options: dict[str, Any]) -> None:
        result = webhooks.sync_webhooks(find_credential(options["credential"]))
        for webhook in result.missing:
            self.stdout.write(self.style.WARNING(f"missing at Webex: {self._line(webhook)}"))
        for item in result.unknown:
            self.stdout.write(f"not registered here: {item.id}\t{item.name}\t{item.target_url}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(result.updated)} in sync, {len(result.missing)} missing, "
                f"{len(result.unknown)} unknown at Webex."
            )
        )

    def do_reactivate(self, options: dict[str, Any]) -> None:
        webhook = find_webhook(options["webhook"])
        with _gone_at_webex(webhook):
            webhooks.reactivate_webhook(webhook)
        self.stdout.write(self.style.SUCCESS(f"Reactivated: {self._line(webhook)}"))

    def do_rotate_secret(self, options: dict[str, Any]) -> None:
        webhook = find_webhook(options["webhook"])
        with _gone_at_webex(webhook):
            webhooks.rotate_secret(webhook)
        self.stdout.write(self.style.SUCCESS(f"New secret stored for: {self._line(webhook)}"))

    def do_check(self, options: dict[str, Any]) -> None:
        result = webhooks.check_webhooks()
        for webhook in result.disabled:
            self.stdout.write(self.style.WARNING(f"disabled by Webex: {self._line(webhook)}"))
        for webhook in result.missing:
            self.stdout.write(self.style.WARNING(f"missing at Webex: {self._line(webhook)}"))
        self.stdout.write(
            f"{len(result.active)} active, {len(result.disabled)} disabled "
            f"({len(result.reactivated)} reactivated), {len(result.missing)} missing, "
            f"{len(result.errors)} not readable."
        )
