"""``EncryptedTextField``: a text column that is only ever stored encrypted.

See :mod:`django_webexteams.crypto` and docs/encryption.md.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression
from django.db.models.lookups import Exact

from django_webexteams import crypto

__all__ = [
    "SERIALIZED_PREFIX",
    "EncryptedLookupError",
    "EncryptedTextField",
    "serialize_plaintext",
]

#: How an encrypted value starts in serialised data (``dumpdata``): ``"fernet:" + token``.
#: ``loaddata`` (``to_python``) decrypts it back with the configured keys.
SERIALIZED_PREFIX = "fernet:"

_PLAINTEXT = contextvars.ContextVar("webexteams_serialize_plaintext", default=False)


@contextlib.contextmanager
def serialize_plaintext() -> Iterator[None]:
    """Within this block, serialisers (``dumpdata``) write encrypted fields as plaintext,
    e.g. to move data to a deployment with other keys (``webexteams_dumpdata --plaintext``).
    The output then holds every token and secret in the clear."""
    reset = _PLAINTEXT.set(True)
    try:
        yield
    finally:
        _PLAINTEXT.reset(reset)


class EncryptedLookupError(FieldError):
    """A query tried to filter on (or transform) an encrypted column."""


class _NoneOnlyExact(Exact):
    """``exact`` that only accepts ``None`` (which Django rewrites to ``isnull``)."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise EncryptedLookupError(lhs.output_field._refusal("the 'exact' lookup"))
        super().__init__(lhs, rhs)


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A ``TextField`` whose value is encrypted with Fernet before it reaches the database.

    - Python side: plain ``str``. Database side: a Fernet token (ASCII).
    - Reading a row whose value no configured key decrypts raises
      :class:`~django_webexteams.crypto.DecryptionError` naming the model and field; the
      value is never returned as if it were plaintext, so it can't be re-saved double-wrapped
      or sent to Webex as a token. To show such rows (e.g. in the admin) defer the column.
    - Every lookup except ``isnull`` raises :class:`EncryptedLookupError`: Fernet is
      randomised (the same value encrypts differently each time), so ``exact``, ``contains``
      and friends would silently match nothing; failing loudly is the honest answer.
    """

    description = "Text encrypted at rest with Fernet (WEBEXTEAMS['ENCRYPTION_KEYS'])"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        if isinstance(value, Expression):  # pragma: no cover - defensive
            raise EncryptedLookupError(self._refusal("an expression"))
        return crypto.encrypt(str(value))

    def from_db_value(
        self, value: Any, expression: Any, connection: BaseDatabaseWrapper
    ) -> str | None:
        if value is None:
            return None
        try:
            return crypto.decrypt(value)
        except crypto.DecryptionError:
            raise crypto.DecryptionError(self._label(), self.name) from None

    def to_python(self, value: Any) -> Any:
        # Forms hand us plaintext; deserialisation (loaddata) hands us what value_to_string()
        # wrote: ciphertext with SERIALIZED_PREFIX (decrypted here, or a DecryptionError when
        # no configured key reads it: never stored double-wrapped), or plaintext from
        # serialize_plaintext(). Webex tokens and our secrets never start with the prefix.
        if isinstance(value, str) and value.startswith(SERIALIZED_PREFIX):
            try:
                return crypto.decrypt(value[len(SERIALIZED_PREFIX) :])
            except crypto.DecryptionError:
                raise crypto.DecryptionError(self._label(), self.name) from None
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def value_to_string(self, obj: Any) -> str:
        """Serialised form (``dumpdata``): ``SERIALIZED_PREFIX`` + Fernet ciphertext, so a
        dump holds no token or secret in the clear (security: dumps end up in tickets,
        laptops and backups next to nothing else). ``""`` stays ``""``. Plaintext only
        inside :func:`serialize_plaintext`."""
        value = self.value_from_object(obj)
        if value is None or value == "" or _PLAINTEXT.get():
            return "" if value is None else str(value)
        return SERIALIZED_PREFIX + crypto.encrypt(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            # ``filter(field=None)`` reaches Django as exact-None, which it turns into isnull.
            return _NoneOnlyExact
        raise EncryptedLookupError(self._refusal(f"the {lookup_name!r} lookup"))

    def get_transform(self, lookup_name: str) -> Any:
        raise EncryptedLookupError(self._refusal(f"the {lookup_name!r} transform"))

    def _label(self) -> str:
        model = getattr(self, "model", None)
        return model._meta.label if model is not None else "<unbound field>"

    def _refusal(self, what: str) -> str:
        return (
            f"{self._label()}.{self.name} is encrypted; {what} can't be used on it (values are "
            "encrypted with a random IV, so the database can't compare them). Only isnull is "
            "supported: filter on another column, then read the value in Python."
        )
