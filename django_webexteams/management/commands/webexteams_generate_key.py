"""``manage.py webexteams_generate_key``: print a new key for WEBEXTEAMS["ENCRYPTION_KEYS"]."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_webexteams.crypto import generate_key


class Command(BaseCommand):
    help = (
        'Print a new random Fernet key for WEBEXTEAMS["ENCRYPTION_KEYS"]. Only the key goes to '
        "stdout, so KEY=$(manage.py webexteams_generate_key) works. To rotate, put the new key "
        "first, keep the old ones after it, run webexteams_rotate_keys, then drop the old keys."
    )
    requires_system_checks: list[str] = []  # must work before the keys are configured

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--count", type=int, default=1, help="How many keys to print (one per line)."
        )

    def handle(self, *args: Any, count: int = 1, **options: Any) -> None:
        for _ in range(max(1, count)):
            self.stdout.write(generate_key())
