"""Webhook signature helpers."""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from django_webexteams.client import generate_secret, sign_body, verify_signature

SECRET = "myBongoSecret"
BODY = b'{"a":1,"b":2,"c":{"d":3}}'
VECTOR = "01e0cb6a53731b9615b483335d77d97023410c72"


def test_webex_test_vector() -> None:
    assert sign_body(SECRET, BODY) == VECTOR
    assert sign_body(SECRET.encode(), BODY.decode()) == VECTOR
    assert verify_signature(SECRET, BODY, VECTOR)
    assert verify_signature(SECRET.encode(), BODY, VECTOR)
    assert verify_signature(SECRET, BODY, VECTOR.upper())
    assert verify_signature(SECRET, BODY, f" {VECTOR}\n")
    assert verify_signature(SECRET, BODY, VECTOR.encode())


@pytest.mark.parametrize(
    ("secret", "body", "sig"),
    [
        (SECRET, BODY + b" ", VECTOR),  # body changed
        ("otherSecret", BODY, VECTOR),
        (SECRET, BODY, VECTOR[:-1] + "d"),
        (SECRET, BODY, VECTOR[:-1]),  # wrong length
        (SECRET, BODY, VECTOR + "00"),
        (SECRET, BODY, "z" * 40),  # not hex
        (SECRET, BODY, "sha1=" + VECTOR),
        (SECRET, BODY, ""),
        (SECRET, BODY, None),
        ("", BODY, VECTOR),  # no secret means reject
        (None, BODY, VECTOR),
        (b"", BODY, VECTOR),
        (SECRET, BODY, b"\xff" * 40),
        (SECRET, BODY, "é" * 40),
    ],
)
def test_rejections_never_raise(secret: Any, body: bytes, sig: Any) -> None:
    assert verify_signature(secret, body, sig) is False


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_signature(SECRET, BODY, VECTOR.upper())
    assert seen == [(VECTOR, VECTOR)]


def test_generate_secret() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b
    assert len(a) >= 43  # 32 bytes, URL-safe base64
    assert all(c.isalnum() or c in "-_" for c in a)
    assert len(generate_secret(8)) >= 43  # never fewer than 32 bytes
