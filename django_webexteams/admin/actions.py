"""Helpers of the admin actions that talk to Webex: bounded selections, one message per row,
queueing a Celery task instead (``ADMIN_TASKS``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_webexteams import conf, crypto
from django_webexteams.admin.errors import describe_error

__all__ = [
    "admin_tasks_mode",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.admin")


# --- helpers of the actions ----------------------------------------------------------------

#: Actions that call Webex once per row in the request refuse larger selections: each call
#: may take seconds (timeouts, retries), and a request must not run for minutes.
MAX_SYNC_ROWS = 25


def admin_tasks_mode() -> str:
    """``WEBEXTEAMS["ADMIN_TASKS"]`` (``"sync"`` or ``"celery"``); ``None`` follows
    ``WEBHOOK_DISPATCH``, so a project that already runs Celery for webhooks uses it here."""
    mode = conf.get("ADMIN_TASKS") or conf.get("WEBHOOK_DISPATCH") or "sync"
    if mode not in ("sync", "celery"):
        raise ImproperlyConfigured(
            f'WEBEXTEAMS["ADMIN_TASKS"] must be "sync", "celery" or None, not {mode!r}.'
        )
    return str(mode)


def _webex_failures() -> tuple[type[BaseException], ...]:
    """Exceptions an action reports as a message (anything else is a bug and should raise)."""
    from django_webexteams.client import WebexError
    from django_webexteams.tokens import TokenError

    return (WebexError, ImproperlyConfigured, crypto.DecryptionError, TokenError, ValueError)


def _describe(exc: BaseException) -> str:
    return describe_error(exc)


def _too_many(model_admin: admin.ModelAdmin, request: HttpRequest, count: int) -> bool:  # type: ignore[type-arg]
    if count <= MAX_SYNC_ROWS:
        return False
    model_admin.message_user(
        request,
        _("Select at most %(max)d rows for this action (each one is a call to Webex).")
        % {"max": MAX_SYNC_ROWS},
        level=messages.WARNING,
    )
    return True


def _each(
    model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    rows: Iterable[Any],
    work: Callable[[Any], str],
) -> None:
    """Run ``work(row)`` for each row; its return value is a success message, a Webex failure
    becomes an error message naming the row. One failing row does not stop the others."""
    for row in rows:
        try:
            text = work(row)
        except _webex_failures() as exc:
            model_admin.message_user(request, f"{row}: {_describe(exc)}", level=messages.ERROR)
            continue
        if text:
            model_admin.message_user(request, text, level=messages.SUCCESS)


def _queue(
    model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    task: Any,
    pks: list[int],
) -> None:
    """``task.delay(pk)`` for each pk (primary keys only, never tokens, go to the broker)."""
    queued = 0
    for pk in pks:
        try:
            task.delay(pk)
        except Exception:  # broker down: say so instead of a 500
            logger.exception("Could not queue %s(%s)", task.name, pk)
            model_admin.message_user(
                request,
                _("Could not queue the task (is the Celery broker running?)."),
                level=messages.ERROR,
            )
            break
        queued += 1
    if queued:
        model_admin.message_user(
            request, _("%(n)d task(s) queued.") % {"n": queued}, level=messages.SUCCESS
        )
