"""The errors of sending: arguments Webex would refuse, a queued file that can no longer be read."""

from __future__ import annotations

__all__ = [
    "InvalidMessageError",
    "StoredFileError",
]


class StoredFileError(Exception):
    """The file queued with a message can no longer be read from storage."""


class InvalidMessageError(ValueError):
    """``send_message`` was called with arguments Webex would refuse (no or several targets,
    text over 7439 bytes, several files, ...). Raised at once, before anything is stored."""
