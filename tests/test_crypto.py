"""Tests for django_webexteams.crypto: MultiFernet over WEBEXTEAMS["ENCRYPTION_KEYS"]."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from django_webexteams import crypto

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def use_keys(settings: Any, *keys: str) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": list(keys)}


def test_round_trip_and_ciphertext_hides_plaintext(settings: Any) -> None:
    use_keys(settings, KEY_A)
    token = crypto.encrypt("secret-token-value")
    assert "secret-token-value" not in token
    assert crypto.decrypt(token) == "secret-token-value"


def test_encryption_is_randomised(settings: Any) -> None:
    use_keys(settings, KEY_A)
    assert crypto.encrypt("same") != crypto.encrypt("same")


@given(value=st.text())
def test_hypothesis_round_trip_any_text(value: str) -> None:
    # `settings` is function-scoped, hypothesis runs many examples: use override_settings.
    with override_settings(WEBEXTEAMS={"ENCRYPTION_KEYS": [KEY_A]}):
        assert crypto.decrypt(crypto.encrypt(value)) == value


def test_empty_and_non_ascii_round_trip(settings: Any) -> None:
    use_keys(settings, KEY_A)
    for value in ["", "é", "日本語トークン", "emoji 🎉", "\x00nul"]:
        assert crypto.decrypt(crypto.encrypt(value)) == value


def test_first_key_encrypts_all_decrypt(settings: Any) -> None:
    use_keys(settings, KEY_A)
    old = crypto.encrypt("v")
    use_keys(settings, KEY_B, KEY_A)
    new = crypto.encrypt("v")
    assert crypto.decrypt(old) == "v"
    assert crypto.decrypt(new) == "v"
    assert Fernet(KEY_B.encode()).decrypt(new.encode()) == b"v"
    assert not crypto.is_current(old)
    assert crypto.is_current(new)


def test_override_settings_changes_keys_despite_cache(settings: Any) -> None:
    use_keys(settings, KEY_A)
    token = crypto.encrypt("v")
    use_keys(settings, KEY_B)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


def test_wrong_key_raises_without_leaking(settings: Any) -> None:
    use_keys(settings, KEY_A)
    token = crypto.encrypt("supersecret")
    use_keys(settings, KEY_B)
    with pytest.raises(crypto.DecryptionError) as info:
        crypto.decrypt(token)
    text = str(info.value)
    assert "supersecret" not in text and token not in text and KEY_B not in text
    assert "webexteams_rotate_keys" in text


def test_plaintext_is_not_accepted_as_ciphertext(settings: Any) -> None:
    use_keys(settings, KEY_A)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("just-a-plaintext-token")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("ünïcode")


def test_tampered_or_truncated_ciphertext_is_refused(settings: Any) -> None:
    """Attack: someone with write access to the database (a backup restored by hand, an SQL
    injection elsewhere) edits a stored ciphertext. Fernet's HMAC makes every edit a clear
    DecryptionError: never garbage, never the bytes handed out as a token."""
    import base64

    use_keys(settings, KEY_A)
    token = crypto.encrypt("secret-token-value")
    raw = bytearray(base64.urlsafe_b64decode(token))
    for position in (9, 30, len(raw) - 1):  # IV, ciphertext, HMAC
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(base64.urlsafe_b64encode(bytes(flipped)).decode())
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token[:-8])
    with pytest.raises(crypto.DecryptionError):
        crypto.rotate(token[:-8])


def test_rotate_re_encrypts_under_first_key(settings: Any) -> None:
    use_keys(settings, KEY_A)
    token = crypto.encrypt("v")
    use_keys(settings, KEY_B, KEY_A)
    rotated = crypto.rotate(token)
    use_keys(settings, KEY_B)
    assert crypto.decrypt(rotated) == "v"
    assert crypto.is_current(rotated)


def test_is_current_raises_for_unreadable(settings: Any) -> None:
    use_keys(settings, KEY_A)
    token = crypto.encrypt("v")
    use_keys(settings, KEY_B)
    with pytest.raises(crypto.DecryptionError):
        crypto.is_current(token)


def test_missing_keys_is_improperly_configured(settings: Any) -> None:
    use_keys(settings)
    with pytest.raises(ImproperlyConfigured, match="webexteams_generate_key"):
        crypto.encrypt("v")


def test_malformed_key_is_improperly_configured_and_not_echoed(settings: Any) -> None:
    use_keys(settings, KEY_A, "not-a-valid-key-but-secret")
    with pytest.raises(ImproperlyConfigured) as info:
        crypto.encrypt("v")
    assert "[1]" in str(info.value)
    assert "not-a-valid-key-but-secret" not in str(info.value)


def test_comma_separated_string_of_keys(settings: Any) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": f"{KEY_B}, {KEY_A}"}
    token = crypto.encrypt("v")
    assert Fernet(KEY_B.encode()).decrypt(token.encode()) == b"v"


def test_never_derived_from_secret_key(settings: Any) -> None:
    use_keys(settings, KEY_A)
    token = crypto.encrypt("v")
    settings.SECRET_KEY = "a-completely-different-secret-key"
    assert crypto.decrypt(token) == "v"


def test_generate_key_is_a_valid_fernet_key() -> None:
    key = crypto.generate_key()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert crypto.generate_key() != key


def test_encrypt_rejects_bytes(settings: Any) -> None:
    use_keys(settings, KEY_A)
    with pytest.raises(TypeError):
        crypto.encrypt(b"bytes")  # type: ignore[arg-type]
