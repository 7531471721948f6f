"""Writing messages to the outbox: :func:`send_message`, :func:`send_template` and the checks
and file handling they do before anything is stored.

The row is written in the caller's transaction and its delivery enqueued on commit
(:mod:`django_webexteams.messaging.queue`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from django_webexteams.messaging.errors import InvalidMessageError
from django_webexteams.messaging.files import _check_file_size, _file_spec, _FileSpec
from django_webexteams.messaging.loop_breaker import _answers_itself
from django_webexteams.messaging.queue import _enqueue_on_commit
from django_webexteams.models import OutboundMessage

if TYPE_CHECKING:
    from django.http import HttpRequest

    from django_webexteams.models import Credential

__all__ = [
    "MAX_MESSAGE_BYTES",
    "send_message",
    "send_template",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.messaging")


#: Webex: "The maximum message length is 7439 bytes" for text and markdown, each, in UTF-8
#: (https://developer.webex.com/docs/api/v1/messages/create-a-message).
MAX_MESSAGE_BYTES = 7439


# --- send_message -----------------------------------------------------------------------------


def _as_text(name: str, value: Any) -> str:
    """``None`` -> ""; a MarkdownBuilder (or anything with ``__str__``) -> ``str(value)``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    size = len(text.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise InvalidMessageError(
            f"{name} is {size} bytes in UTF-8; Webex accepts at most {MAX_MESSAGE_BYTES}. "
            "Split it into several messages or send it as a file."
        )
    return text


def _normalise_attachments(attachments: Any) -> list[dict[str, Any]] | None:
    if attachments is None:
        return None
    items = [attachments] if isinstance(attachments, Mapping) else list(attachments)
    if not items:
        return None
    if len(items) > 1:
        raise InvalidMessageError("Webex accepts one card (attachment) per message")
    card = items[0]
    if not isinstance(card, Mapping) or "contentType" not in card or "content" not in card:
        raise InvalidMessageError(
            'an attachment is a card dict: {"contentType": '
            '"application/vnd.microsoft.card.adaptive", "content": {...}}'
        )
    return [dict(card)]


def send_message(
    *,
    room_id: str | None = None,
    to_person_id: str | None = None,
    to_person_email: str | None = None,
    text: Any = None,
    markdown: Any = None,
    parent_id: str | None = None,
    attachments: Any = None,
    file: Any = None,
    credential: Credential | None = None,
    idempotency_key: str | None = None,
    enqueue: bool = True,
) -> OutboundMessage:
    """Queue a message: validate, write an outbox row in the caller's transaction, and
    enqueue ``webexteams.deliver_message`` when that transaction commits.

    Exactly one of ``room_id``, ``to_person_id``, ``to_person_email``; at least one of
    ``text``, ``markdown`` (a str or a ``MarkdownBuilder``, used as ``str()``), ``file``,
    ``attachments`` (one adaptive card dict, or a list with one). ``file``: a
    ``pathlib.Path``, a URL string (Webex fetches it; a ``str`` is never a path), a Django
    ``File``/upload, a named binary file object or ``(filename, data[, content_type])``;
    it is copied to Django's default storage under
    ``WEBEXTEAMS["FILE_STORAGE_PREFIX"]`` and deleted once sent. The content type sent to
    Webex is guessed from the file name. ``credential``: who sends (``None``: the bot token
    from settings). ``idempotency_key``: a second call with the same key returns the first
    call's row and queues nothing (also when two calls race: the unique constraint decides).
    ``enqueue=False`` stores the row without queueing it (``deliver(pk)`` sends it).

    Raises :class:`InvalidMessageError` for arguments Webex would refuse, before storing.
    """
    targets = [t for t in (room_id, to_person_id, to_person_email) if t]
    if len(targets) != 1:
        raise InvalidMessageError(
            f"pass exactly one of room_id, to_person_id or to_person_email (got {len(targets)})"
        )
    if to_person_email:
        try:
            validate_email(to_person_email)
        except ValidationError as exc:
            raise InvalidMessageError(f"not an e-mail address: {to_person_email!r}") from exc
    text_value = _as_text("text", text)
    markdown_value = _as_text("markdown", markdown)
    cards = _normalise_attachments(attachments)
    spec = _file_spec(file) if file is not None else None
    try:
        if spec is not None:
            _check_file_size(spec)
            if spec.content is not None and cards:
                raise InvalidMessageError(
                    "Webex cannot combine a card with a file upload; send them separately"
                )
        if not (text_value or markdown_value or spec or cards):
            raise InvalidMessageError("nothing to send: pass text, markdown, file or attachments")

        if idempotency_key:
            existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing

        loop = _answers_itself(credential)
        row = OutboundMessage(
            credential=credential,
            room_id=room_id or "",
            to_person_id=to_person_id or "",
            to_person_email=to_person_email or "",
            text=text_value,
            markdown=markdown_value,
            parent_id=parent_id or "",
            attachments=cards,
            idempotency_key=idempotency_key or None,
        )
        if loop:
            # Stored (visible in the admin, and an idempotency key stays taken) but never sent.
            row.status = OutboundMessage.Status.FAILED
            row.last_error = loop
            logger.warning("Outbound message not sent: %s", loop)
            return _store(row, None, idempotency_key, enqueue=False)
        return _store(row, spec, idempotency_key, enqueue)
    finally:
        if spec is not None and spec.to_close is not None:
            spec.to_close.close()


def _store(
    row: OutboundMessage, spec: _FileSpec | None, idempotency_key: str | None, enqueue: bool
) -> OutboundMessage:
    if spec is not None:
        row.file_name = spec.name
        if spec.content is not None:
            # Not transactional: if the caller's transaction rolls back, the stored file stays
            # behind (docs/sending.md). The row, and so the send, does not.
            row.file.save(spec.name, spec.content, save=False)
        else:
            row.file_name = spec.url  # a URL: Webex fetches it, nothing to store
    try:
        # A savepoint, so that an IntegrityError leaves the caller's transaction usable.
        with transaction.atomic():
            row.save()
    except IntegrityError:
        if row.file:
            row.file.delete(save=False)
        if idempotency_key:
            # Lost a race with a concurrent call using the same key: the unique constraint
            # made us wait for that transaction; it committed, so its row is visible now.
            existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing
        raise
    if enqueue:
        _enqueue_on_commit(row.pk)
    return row


def send_template(
    template_name: str | Sequence[str],
    context: Mapping[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> OutboundMessage:
    """Render a Django template to Markdown and :func:`send_message` it (``kwargs``: the
    target, ``credential``, ``idempotency_key``, ``file``, ...). Leading and trailing
    whitespace of the rendering is stripped. The template engine's autoescaping applies as
    for any template (``<`` and ``&`` in values become HTML entities); it does not escape
    Markdown syntax, so treat untrusted values with care (``{% autoescape off %}`` when you
    need raw characters)."""
    if "markdown" in kwargs:
        raise TypeError("send_template renders the markdown; do not pass markdown=")
    rendered = render_to_string(template_name, dict(context or {}), request=request).strip()
    return send_message(markdown=rendered, **kwargs)
