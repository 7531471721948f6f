"""Values taken from an HTTP request (query string, form, URL), parsed strictly."""

from __future__ import annotations

import re

__all__ = ["ascii_int"]

# ASCII digits only: str.isdigit() and int() also take "²", "١٢" or "1_0", which then fail
# (or mean something else) further down. 18 digits always fit a 64-bit primary key.
_ASCII_INT = re.compile(r"[0-9]{1,18}")


def ascii_int(value: object) -> int | None:
    """``value`` as a non-negative int when it is 1-18 ASCII digits, else ``None``.
    For ids and numbers taken from a request (query string, form)."""
    if isinstance(value, str) and _ASCII_INT.fullmatch(value):
        return int(value)
    return None
