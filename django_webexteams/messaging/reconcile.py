"""Reconciling an uncertain attempt: looking in the target space for a message an earlier
attempt may have posted, before posting again.
"""

from __future__ import annotations

import itertools
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django_webexteams.client import (
    MalformedResponseError,
    RetryLaterError,
    ServerError,
    TransportError,
    WebexError,
)
from django_webexteams.models import OutboundMessage

if TYPE_CHECKING:
    from django_webexteams.client import Message, WebexClient

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.messaging")


#: How far back (before the uncertain attempt began) reconciliation looks, for clock skew
#: between our hosts and Webex.
_RECONCILE_SKEW = timedelta(seconds=30)


#: How many recent messages of the target space reconciliation reads at most.
_RECONCILE_SCAN = 100


def _content_matches(message: Message, row: OutboundMessage) -> bool:
    def norm(value: str | None) -> str:
        return (value or "").strip()

    if row.markdown:
        if norm(message.markdown) != norm(row.markdown):
            return False
    elif row.text:
        if norm(message.text) != norm(row.text):
            return False
    else:
        return False  # a file or card alone cannot be recognised reliably
    if (row.file or row.file_name) and not message.files:
        return False
    return not (row.attachments and not message.attachments)


class _LookupFailed(Exception):
    """Reconciliation could not look this time (a 429/423, 5xx, timeout, dropped connection
    or garbled answer on the GETs): try again later instead of posting."""

    def __init__(self, error: WebexError) -> None:
        super().__init__(str(error))
        self.error = error


def _find_posted(client: WebexClient, row: OutboundMessage, since: datetime) -> Message | None:
    """Look for the message an uncertain earlier attempt may have stored (see the module
    docstring). ``None`` when not found or when Webex does not let us look (403/404: a bot
    in a group space); raises :class:`_LookupFailed` when looking failed transiently."""
    try:
        me = client.people.me().id
        if row.room_id:
            listing = client.messages.list(row.room_id, parent_id=row.parent_id or None)
        else:
            listing = client.messages.list_direct(
                person_id=row.to_person_id or None,
                person_email=row.to_person_email or None,
                parent_id=row.parent_id or None,
            )
        window_start = since - _RECONCILE_SKEW
        for message in itertools.islice(iter(listing), _RECONCILE_SCAN):
            if message.created is not None and message.created < window_start:
                break  # newest first: everything further is older
            if message.person_id != me or not message.id:
                continue
            if not _content_matches(message, row):
                continue
            if OutboundMessage.objects.filter(webex_message_id=message.id).exists():
                continue  # another outbox row with the same content owns it
            logger.info(
                "Outbound message %s: found it at Webex (%s) from an earlier attempt; "
                "not posting again",
                row.pk,
                message.id,
            )
            return message
    except (RetryLaterError, ServerError, MalformedResponseError, TransportError) as exc:
        raise _LookupFailed(exc) from exc
    except WebexError as exc:
        # E.g. a bot in a group space (403 without mentionedPeople=me): we cannot tell, so we
        # post again (at-least-once) rather than risk never delivering.
        logger.info("Outbound message %s: could not reconcile (%s); posting", row.pk, exc)
    return None
