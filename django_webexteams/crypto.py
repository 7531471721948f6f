"""Encryption at rest for tokens and secrets.

Values are encrypted with a :class:`cryptography.fernet.MultiFernet` built from
``WEBEXTEAMS["ENCRYPTION_KEYS"]``: the first key encrypts, every key decrypts, so a new key
can be put in front and old rows re-encrypted later (``manage.py webexteams_rotate_keys``).

Security decisions:

- The keys are a dedicated list, never derived from ``SECRET_KEY``: rotating ``SECRET_KEY``
  (which invalidates sessions) must not make every stored token unreadable, and a leaked
  ``SECRET_KEY`` must not also leak every token.
- A value that no key decrypts raises :class:`DecryptionError`. It is never handed back as
  if it were plaintext (that would silently send ciphertext to Webex as a token, or re-save
  it wrapped in a second layer of encryption).
- Error messages never contain the value, its ciphertext or a key.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured

from django_webexteams import conf

__all__ = [
    "DecryptionError",
    "decrypt",
    "encrypt",
    "generate_key",
    "get_fernet",
    "is_current",
    "rotate",
]

_HOW_TO_FIX = (
    'Set WEBEXTEAMS["ENCRYPTION_KEYS"] to a list of Fernet keys (generate one with '
    "manage.py webexteams_generate_key); see docs/encryption.md."
)


class DecryptionError(Exception):
    """No key in ``WEBEXTEAMS["ENCRYPTION_KEYS"]`` can decrypt a stored value.

    Raised from the model field with ``model`` (the model label, e.g.
    ``"webexteams.Credential"``) and ``field`` (the field name) set, so the message says which
    column holds the unreadable value. It never contains the value itself.
    """

    def __init__(self, model: str | None = None, field: str | None = None) -> None:
        self.model = model
        self.field = field
        where = f"{model}.{field}" if model and field else "a value"
        super().__init__(
            f"Cannot decrypt {where}: no key in WEBEXTEAMS['ENCRYPTION_KEYS'] can read it. "
            "It was encrypted with a key that is no longer configured, or it is corrupt. "
            "Add the old key back (after the current one) and run "
            "manage.py webexteams_rotate_keys; see docs/encryption.md."
        )


def generate_key() -> str:
    """A new random Fernet key (urlsafe base64 of 32 bytes), as text for settings."""
    return Fernet.generate_key().decode("ascii")


@functools.lru_cache(maxsize=8)
def _build(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    # Cached on the key tuple: building Fernet objects is cheap but not free, and keying the
    # cache on the keys themselves (not on "first call") keeps override_settings working.
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key.encode("ascii") if isinstance(key, str) else key))
        except (ValueError, TypeError, UnicodeError):
            # Never echo the key: it is a secret even when malformed.
            raise ImproperlyConfigured(
                f'WEBEXTEAMS["ENCRYPTION_KEYS"][{index}] is not a valid Fernet key '
                "(32 bytes, urlsafe base64). " + _HOW_TO_FIX
            ) from None
    return MultiFernet(fernets), fernets[0]


def _keys() -> tuple[str, ...]:
    keys = tuple(conf.encryption_keys())
    if not keys:
        raise ImproperlyConfigured('WEBEXTEAMS["ENCRYPTION_KEYS"] is empty. ' + _HOW_TO_FIX)
    return keys


def get_fernet() -> MultiFernet:
    """The MultiFernet for the keys configured right now (first encrypts, all decrypt)."""
    return _build(_keys())[0]


def encrypt(value: str) -> str:
    """Encrypt ``value`` with the first configured key. Returns ASCII text (a Fernet token)."""
    if not isinstance(value, str):
        raise TypeError(f"encrypt() takes str, not {type(value).__name__}")
    return get_fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt a value written by :func:`encrypt` with any configured key.

    Raises :class:`DecryptionError` (without model/field; the model field adds them) when no
    key can read it, including when ``token`` is not a Fernet token at all (e.g. a plaintext
    value written around the field).
    """
    try:
        return get_fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, TypeError, ValueError):
        raise DecryptionError() from None


def is_current(token: str) -> bool:
    """Whether ``token`` is readable with the first (encrypting) key.

    ``webexteams_rotate_keys`` skips such values, which is what makes a second rotation change
    nothing. Raises :class:`DecryptionError` if no configured key can read ``token``.
    """
    _multi, first = _build(_keys())
    try:
        first.decrypt(token.encode("ascii"))
        return True
    except (InvalidToken, UnicodeError, ValueError):
        pass
    decrypt(token)  # raises DecryptionError if no other key can read it either
    return False


def rotate(token: str) -> str:
    """Re-encrypt ``token`` under the first key (keeps the plaintext, never exposes it)."""
    try:
        return get_fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, TypeError, ValueError):
        raise DecryptionError() from None
