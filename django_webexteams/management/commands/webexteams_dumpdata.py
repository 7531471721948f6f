"""``manage.py webexteams_dumpdata``: ``dumpdata``, with ``--plaintext`` to export tokens and
secrets decrypted (to move data to a deployment with other keys).

Plain ``dumpdata`` writes encrypted fields as ``fernet:<ciphertext>`` (readable by
``loaddata`` wherever one of the current keys is configured); this command without
``--plaintext`` does the same.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import CommandParser
from django.core.management.commands import dumpdata

from django_webexteams.fields import serialize_plaintext


class Command(dumpdata.Command):
    help = (
        "dumpdata; with --plaintext, encrypted fields (tokens, secrets) are written decrypted. "
        "Treat such output as a secret and delete it after loaddata."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--plaintext",
            action="store_true",
            help="write tokens and secrets decrypted (default: fernet:<ciphertext>)",
        )

    def handle(self, *app_labels: Any, **options: Any) -> None:
        plaintext = options.pop("plaintext", False)
        with serialize_plaintext() if plaintext else contextlib.nullcontext():
            super().handle(*app_labels, **options)
