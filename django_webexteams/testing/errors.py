"""Webex error bodies: ``{"message", "errors": [{"description"}], "trackingId"}``."""

from __future__ import annotations

from typing import Any

# Messages Webex really sends for these situations (seen in production responses).
NOT_FOUND = "The requested resource could not be found."
UNAUTHORIZED = "The request requires a valid access token set in the Authorization request header."
RATE_LIMITED = "Too many requests have been sent in a given amount of time."
ADMIN_REQUIRED = "This operation requires an administrator of the organization."


class WebexError(Exception):
    """Raised by route handlers; the app turns it into a Webex error response."""

    def __init__(
        self,
        status: int,
        message: str,
        description: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.description = description or message
        self.headers = headers or {}
        self.extra = extra or {}


def error_body(message: str, tracking: str, description: str | None = None) -> dict[str, Any]:
    """The JSON body of every Webex error."""
    return {
        "message": message,
        "errors": [{"description": description or message}],
        "trackingId": tracking,
    }


def bad_request(message: str) -> WebexError:
    return WebexError(400, message)


def forbidden(message: str) -> WebexError:
    return WebexError(403, message)


def not_found(message: str = NOT_FOUND) -> WebexError:
    return WebexError(404, message)


def conflict(message: str) -> WebexError:
    return WebexError(409, message)


def missing(field: str) -> WebexError:
    """400 for a missing required field, worded like Webex's validation errors."""
    return WebexError(400, f"Missing required field: {field}", f"{field} is required")
