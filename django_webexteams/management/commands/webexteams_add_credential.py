"""``manage.py webexteams_add_credential``: store a Webex access token, encrypted.

The token is read from an environment variable (``--token-env NAME``) or from stdin, never
from the command line: argv is visible to every local user in ``ps`` and lands in shell
history. It is checked with ``GET /people/me`` before anything is saved, and the person's id,
e-mail, display name and organization are filled from the answer.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from django_webexteams.clients import build_client
from django_webexteams.models import Credential


def _clean(token: str) -> str:
    token = token.strip()
    # People paste the whole header value from the developer portal; the token is the rest.
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return token


class Command(BaseCommand):
    help = (
        "Verify a Webex access token with GET /people/me and store it encrypted as a "
        "Credential. The token comes from --token-env NAME or stdin, never from argv."
    )
    # call_command(..., stdin=io.StringIO("token")) for tests and scripts.
    stealth_options = ("stdin",)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        original_error = parser.error

        def error(message: str) -> Any:
            # argparse echoes unrecognized arguments; someone may have typed the token there.
            if "unrecognized arguments" in message:
                message = (
                    "unrecognized arguments (not shown: they may contain a token). Pass the "
                    "token with --token-env NAME or on stdin, never as an argument."
                )
            return original_error(message)

        parser.error = error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token-env",
            metavar="NAME",
            help="Name of the environment variable holding the token (default: read stdin).",
        )
        parser.add_argument(
            "--kind",
            choices=[Credential.Kind.BOT, Credential.Kind.USER],
            help="bot or user (default: what GET /people/me says the token belongs to).",
        )
        parser.add_argument("--name", default="", help="A label for staff.")
        parser.add_argument(
            "--owner", metavar="USERNAME", help="Django user that owns the credential."
        )

    def _read_token(self, token_env: str | None, stdin: TextIO | None) -> str:
        if token_env:
            token = os.environ.get(token_env, "")
            if not token.strip():
                raise CommandError(f"Environment variable {token_env} is not set or empty.")
            return _clean(token)
        stream = stdin or sys.stdin
        if stream.isatty():
            # Interactive: prompt without echo.
            token = getpass.getpass("Webex access token (not echoed): ")
        else:
            token = stream.readline()
        token = _clean(token)
        if not token:
            raise CommandError(
                "No token on stdin. Pipe it in, or use --token-env NAME to read it from "
                "the environment."
            )
        return token

    def handle(self, *args: Any, **options: Any) -> None:
        from django_webexteams.client import ApiError, TransportError, UnauthorizedError

        token = self._read_token(options.get("token_env"), options.get("stdin"))
        owner = None
        if options.get("owner"):
            user_model = get_user_model()
            try:
                owner = user_model._default_manager.get_by_natural_key(options["owner"])
            except user_model.DoesNotExist:
                raise CommandError(f"No user {options['owner']!r}.") from None

        client = build_client(token)
        try:
            me = client.people.me()
        except UnauthorizedError as exc:
            raise CommandError(
                "Webex rejected the token (401 Unauthorized"
                + (f", tracking id {exc.tracking_id}" if exc.tracking_id else "")
                + "). Check that it was copied whole and has not expired; nothing was saved."
            ) from None
        except ApiError as exc:
            raise CommandError(f"Could not verify the token, nothing was saved: {exc}") from None
        except TransportError as exc:
            raise CommandError(f"Could not reach Webex, nothing was saved: {exc}") from None

        raw = me.raw or {}
        person_id = str(raw.get("id") or "")
        if not person_id:
            raise CommandError("GET /people/me returned no id; nothing was saved.")
        detected = Credential.Kind.BOT if raw.get("type") == "bot" else Credential.Kind.USER
        kind = options.get("kind") or detected
        if kind != detected:
            raise CommandError(
                f"--kind {kind} was given, but Webex says this token belongs to a "
                f"{raw.get('type') or 'person'}; nothing was saved."
            )
        emails = raw.get("emails") or []
        fields: dict[str, Any] = {
            "email": str(emails[0]) if emails else "",
            "display_name": str(raw.get("displayName") or ""),
            "org_id": str(raw.get("orgId") or ""),
            "is_active": True,
            "last_error": "",
        }
        with transaction.atomic():
            credential = (
                Credential.objects.select_for_update()
                .filter(kind=kind, owner=owner, webex_person_id=person_id)
                .defer("access_token", "refresh_token")  # may be under a lost key
                .order_by("pk")
                .first()
            )
            created = credential is None
            if credential is None:
                credential = Credential(kind=kind, owner=owner, webex_person_id=person_id)
            credential.access_token = token
            if options.get("name") or created:
                credential.name = options.get("name") or fields["display_name"]
            for key, value in fields.items():
                setattr(credential, key, value)
            credential.save()

        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} Webex credential #{credential.pk}: {fields['display_name']} "
            f"<{fields['email']}> ({kind}, person id {person_id})."
        )
