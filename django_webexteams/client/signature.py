"""Webhook signatures: Webex signs each delivery with ``X-Spark-Signature``, the lowercase hex
HMAC-SHA1 of the raw request body keyed with the webhook's secret.

Test vector (WEBEX-FACTS.md): secret ``myBongoSecret``, body ``{"a":1,"b":2,"c":{"d":3}}`` ->
``01e0cb6a53731b9615b483335d77d97023410c72``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["generate_secret", "sign_body", "verify_signature"]

_SHA1_HEX_LEN = 40
_HEX = frozenset("0123456789abcdef")


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign_body(secret: str | bytes, body: bytes | str) -> str:
    """The ``X-Spark-Signature`` value Webex would send for ``body``."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return hmac.new(_key(secret), body, hashlib.sha1).hexdigest()


def verify_signature(
    secret: str | bytes | None, body: bytes | str, signature: str | bytes | None
) -> bool:
    """Whether ``signature`` is the HMAC-SHA1 of the raw ``body`` under ``secret``.

    Never raises: a missing/empty secret or signature, non-hex or wrong length gives False
    (SECURITY: no secret means reject, never "accept unsigned"). Hex case is ignored; the
    comparison is constant-time (:func:`hmac.compare_digest`)."""
    if not secret or not signature:
        return False
    try:
        if isinstance(signature, bytes):
            signature = signature.decode("ascii")
        candidate = signature.strip().lower()
        if len(candidate) != _SHA1_HEX_LEN or not set(candidate) <= _HEX:
            return False
        if isinstance(body, str):
            body = body.encode("utf-8")
        expected = sign_body(secret, body)
    except (UnicodeError, TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, candidate)


def generate_secret(nbytes: int = 32) -> str:
    """A new random webhook secret: ``nbytes`` (>= 32) random bytes, URL-safe base64."""
    return secrets.token_urlsafe(max(nbytes, 32))
