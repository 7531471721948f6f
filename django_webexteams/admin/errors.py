"""What staff are told about a Webex, configuration or token error (admin messages)."""

from __future__ import annotations

from django.utils.translation import gettext

from django_webexteams import crypto

__all__ = [
    "describe_error",
]


# --- errors --------------------------------------------------------------------------------


def describe_error(exc: BaseException) -> str:
    """What to tell staff about ``exc`` (a Webex, configuration or token error), with what to
    do next. Never contains a token: client errors hold only Webex's message and ids."""
    from django_webexteams import client as webex

    tracking = getattr(exc, "tracking_id", None)
    suffix = (" " + gettext("(Webex tracking id %(id)s)") % {"id": tracking}) if tracking else ""
    if isinstance(exc, webex.LockedError):
        return (
            gettext(
                "Webex asks to retry later (HTTP 423 Locked). Try again in %(seconds)d seconds."
            )
            % {"seconds": round(exc.retry_after)}
            + suffix
        )
    if isinstance(exc, webex.RetryLaterError):
        return (
            gettext(
                "Webex is rate-limiting this token (HTTP %(status)s). Try again in "
                "%(seconds)d seconds."
            )
            % {"status": exc.status_code, "seconds": round(exc.retry_after)}
            + suffix
        )
    if isinstance(exc, webex.UnauthorizedError):
        return (
            gettext(
                "Webex rejected the token (401 Unauthorized): it has expired or been revoked. "
                "Refresh the credential (admin action “Refresh now”), log in with Webex "
                'again, or set a valid WEBEXTEAMS["BOT_TOKEN"].'
            )
            + suffix
        )
    if isinstance(exc, webex.ForbiddenError):
        return (
            gettext(
                "Webex refused this request (403 Forbidden): the token lacks the scope or "
                "role it needs. Organisation and license pages need an administrator's token "
                "with the spark-admin scopes (e.g. spark-admin:licenses_read). Webex said: "
                "%(message)s"
            )
            % {"message": exc.message}
            + suffix
        )
    if isinstance(exc, webex.NotFoundError):
        return gettext("Not found at Webex, or not visible to this credential.") + suffix
    if isinstance(exc, webex.ApiError):
        return (
            gettext("Webex answered HTTP %(status)s: %(message)s")
            % {"status": exc.status_code, "message": exc.message}
            + suffix
        )
    if isinstance(exc, webex.TransportError):
        return gettext("Could not reach Webex (%(what)s). Try again later.") % {
            "what": gettext("timeout") if exc.is_timeout else gettext("connection failed")
        }
    if isinstance(exc, crypto.DecryptionError):
        return gettext(
            "The stored token cannot be decrypted with the configured "
            'WEBEXTEAMS["ENCRYPTION_KEYS"] (wrong or removed key).'
        )
    return str(exc)
