"""``manage.py webexteams_rotate_keys``: re-encrypt every encrypted value under the first key.

Works on every installed model with an :class:`~django_webexteams.fields.EncryptedTextField`
(ours and the project's own). Safe by construction:

- Values are read as raw column text (no decryption into model instances), each one is
  decrypted and re-encrypted with ``MultiFernet.rotate`` and written back with a
  compare-and-swap ``UPDATE ... WHERE pk = ? AND column = <old ciphertext>``: no other column
  is written, and a value changed meanwhile (e.g. a token refresh) is left alone.
- A value already readable with the first key is skipped, so a second run changes nothing.
- A value no key can read is reported (model, field, pk) and left untouched; the command then
  exits with an error so scripts don't go on to remove the old key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, router, transaction
from django.db.models import ExpressionWrapper, F, TextField, Value

from django_webexteams import crypto
from django_webexteams.fields import EncryptedTextField


@dataclass
class Counts:
    """What happened to the values of one model (or all of them)."""

    rotated: int = 0
    current: int = 0
    null: int = 0
    unreadable: int = 0
    changed: int = 0
    unreadable_rows: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.rotated += other.rotated
        self.current += other.current
        self.null += other.null
        self.unreadable += other.unreadable
        self.changed += other.changed
        self.unreadable_rows += other.unreadable_rows

    def summary(self) -> str:
        return (
            f"{self.rotated} re-encrypted, {self.current} already under the first key, "
            f"{self.unreadable} unreadable (left untouched), {self.changed} changed meanwhile "
            f"(skipped), {self.null} empty"
        )


def encrypted_models() -> list[tuple[type[models.Model], list[str]]]:
    """Every concrete installed model with encrypted columns, with those field names."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, EncryptedTextField) and f.model is model
        ]
        if names:
            found.append((model, names))
    return found


def _raw(name: str) -> ExpressionWrapper[Any]:
    # A plain TextField output: the column comes back as stored (the ciphertext), without the
    # field's from_db_value, so an unreadable row cannot break the batch.
    return ExpressionWrapper(F(name), output_field=TextField())


def rotate_model(
    model: type[models.Model],
    names: list[str],
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    progress: Any = None,
) -> Counts:
    """Re-encrypt the ``names`` columns of ``model`` under the first key, in pk batches."""
    counts = Counts()
    manager = model._base_manager
    db = router.db_for_write(model)
    total = manager.using(db).count()
    raw_names = {name: f"_webexteams_raw_{name}" for name in names}
    last_pk: Any = None
    done = 0
    while True:
        qs = manager.using(db).order_by("pk")
        if last_pk is not None:
            qs = qs.filter(pk__gt=last_pk)
        rows = list(
            qs.annotate(**{raw: _raw(name) for name, raw in raw_names.items()}).values_list(
                "pk", *raw_names.values()
            )[:batch_size]
        )
        if not rows:
            break
        with transaction.atomic(using=db):
            for pk, *values in rows:
                for name, value in zip(names, values, strict=True):
                    _rotate_one(model, db, pk, name, value, counts, dry_run)
        last_pk = rows[-1][0]
        done += len(rows)
        if progress is not None:
            progress(model, done, total)
    return counts


def _rotate_one(
    model: type[models.Model],
    db: str,
    pk: Any,
    name: str,
    value: str | None,
    counts: Counts,
    dry_run: bool,
) -> None:
    if value is None:
        counts.null += 1
        return
    try:
        if crypto.is_current(value):
            counts.current += 1
            return
        new_value = crypto.rotate(value)
    except crypto.DecryptionError:
        counts.unreadable += 1
        counts.unreadable_rows.append(f"{model._meta.label}.{name} pk={pk}")
        return
    if dry_run:
        counts.rotated += 1
        return
    # Compare-and-swap on the raw ciphertext; Value(..., TextField()) bypasses the encrypted
    # field's get_prep_value, which would otherwise encrypt the ciphertext a second time.
    updated = (
        model._base_manager.using(db)
        .alias(_webexteams_old=_raw(name))
        .filter(pk=pk, _webexteams_old=value)
        .update(**{name: Value(new_value, output_field=TextField())})
    )
    if updated:
        counts.rotated += 1
    else:
        counts.changed += 1


class Command(BaseCommand):
    help = (
        'Re-encrypt every encrypted value under the first key of WEBEXTEAMS["ENCRYPTION_KEYS"]. '
        "Idempotent; values no key can read are reported and left untouched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be re-encrypted."
        )

    def handle(
        self, *args: Any, batch_size: int = 500, dry_run: bool = False, **options: Any
    ) -> None:
        crypto.get_fernet()  # fail early with a clear ImproperlyConfigured if keys are missing
        verbosity = int(options.get("verbosity", 1))
        total = Counts()

        def progress(model: type[models.Model], done: int, count: int) -> None:
            if verbosity >= 1:
                self.stdout.write(f"  {model._meta.label}: {done}/{count} rows")

        for model, names in encrypted_models():
            if verbosity >= 1:
                self.stdout.write(f"{model._meta.label} ({', '.join(names)})")
            counts = rotate_model(
                model, names, batch_size=max(1, batch_size), dry_run=dry_run, progress=progress
            )
            if verbosity >= 1:
                self.stdout.write(f"  {counts.summary()}")
            total.add(counts)

        prefix = "Dry run: would have " if dry_run else ""
        self.stdout.write(f"{prefix}Total: {total.summary()}.")
        if total.unreadable:
            for row in total.unreadable_rows:
                self.stderr.write(f"unreadable: {row}")
            msg = (
                f"{total.unreadable} value(s) could not be decrypted with any configured key; "
                "they were left untouched. Keep the old keys until this is fixed: add the key "
                "they were written with (after the first) and run this command again, or set "
                "new values (e.g. reconnect the credential)."
            )
            raise CommandError(msg)
