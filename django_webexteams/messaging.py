"""Sending messages through the outbox: :func:`send_message`, :func:`send_template`,
:func:`resend`, and the delivery itself (:func:`deliver`, run by the Celery task
``webexteams.deliver_message``).

The life of an outbox row (:class:`~django_webexteams.models.OutboundMessage`)::

    queued --claim--> sending --201--> sent
       ^                 |  \\--400/403/404/...--> failed --resend()--> queued
       '--429/5xx/net----'

Guarantees and their limits (docs/sending.md explains them for users):

- ``send_message`` writes the row in the caller's transaction and enqueues the task with
  ``transaction.on_commit``: a rolled-back transaction sends nothing.
- A row is claimed under ``SELECT ... FOR UPDATE``: its status becomes ``sending`` and
  ``updated_at`` the claim time. The claim is a *lease*: for ``lease_seconds()`` (longer than
  the client's connect + read timeouts, so longer than any request can last) another copy of
  the task that finds the row ``sending`` concludes that a send is in flight and reschedules
  itself. After the lease, the claimer must have died mid-send (SIGKILL, OOM, power loss):
  the next copy takes over. So two copies never post at the same time, and a killed worker
  cannot strand a row.
- Once ``sent``, a row is never posted again.
- Webex has no idempotency key. When an attempt's outcome is unknown (the worker died
  mid-send, the connection dropped or timed out, a 5xx or a garbled answer), Webex may have
  stored the message. Before posting again we *reconcile*: list the target space's recent
  messages and look for ours (same sender, same text/markdown, posted since the uncertain
  attempt, not claimed by another outbox row). If found, the row is marked ``sent`` with that
  message id and nothing is posted. Reconciling needs read access to the space: a bot can
  list its 1:1 spaces but not group spaces (Webex requires ``mentionedPeople=me`` there), so
  for bots in group spaces an unknown outcome is resolved by posting again, which may produce
  a duplicate (at-least-once). When looking fails transiently (5xx, network, 429), we look
  again later instead of posting.
"""

from __future__ import annotations

import itertools
import logging
import mimetypes
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_webexteams import conf, ratelimit, signals
from django_webexteams.client import (
    ApiError,
    MalformedResponseError,
    RateLimitedError,
    RetryLaterError,
    ServerError,
    TransportError,
    WebexError,
)
from django_webexteams.client.files import is_url
from django_webexteams.clients import (
    bot_token,
    client_for,
    rate_limit_key,
    remember_sender,
    sender_of,
)
from django_webexteams.events import dispatching
from django_webexteams.models import OutboundMessage

if TYPE_CHECKING:
    from django.http import HttpRequest

    from django_webexteams.client import Message, WebexClient
    from django_webexteams.models import Credential

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_MESSAGE_BYTES",
    "DeliveryResult",
    "InvalidMessageError",
    "StoredFileError",
    "deliver",
    "enqueue_delivery",
    "lease_seconds",
    "requeue_stuck",
    "resend",
    "send_message",
    "send_template",
]

logger = logging.getLogger(__name__)

#: Webex: "The maximum message length is 7439 bytes" for text and markdown, each, in UTF-8
#: (https://developer.webex.com/docs/api/v1/messages/create-a-message).
MAX_MESSAGE_BYTES = 7439
#: Webex: one file per message, at most 100 MB.
MAX_FILE_BYTES = 100 * 1024 * 1024

#: How far back (before the uncertain attempt began) reconciliation looks, for clock skew
#: between our hosts and Webex.
_RECONCILE_SKEW = timedelta(seconds=30)
#: How many recent messages of the target space reconciliation reads at most.
_RECONCILE_SCAN = 100


class StoredFileError(Exception):
    """The file queued with a message can no longer be read from storage."""


class InvalidMessageError(ValueError):
    """``send_message`` was called with arguments Webex would refuse (no or several targets,
    text over 7439 bytes, several files, ...). Raised at once, before anything is stored."""


# --- enqueueing -------------------------------------------------------------------------------


def _queue_options() -> dict[str, Any]:
    queue = conf.get("CELERY_QUEUE")
    return {"queue": str(queue)} if queue else {}


def enqueue_delivery(pk: int, *, countdown: float | None = None) -> None:
    """Send the task ``webexteams.deliver_message`` for the row ``pk`` (the primary key only:
    no token or message text travels through the broker). Queue: ``WEBEXTEAMS["CELERY_QUEUE"]``
    when set, else Celery's routing (``CELERY_TASK_ROUTES`` / the default queue)."""
    from django_webexteams.tasks import deliver_message

    options = _queue_options()
    if countdown is not None:
        options["countdown"] = countdown
    deliver_message.apply_async(args=(pk,), **options)


def _enqueue_on_commit(pk: int) -> None:
    # robust=True: the caller's transaction has committed by then; a broker outage must not
    # raise into code that already believes the message is queued. The row stays ``queued``
    # and ``manage.py webexteams_outbox retry --stuck`` re-enqueues it.
    # A named function, not functools.partial: Django logs a failing robust callback with
    # ``func.__qualname__``, which a partial lacks, and that AttributeError would escape into
    # the caller after its commit (tests/reliability/test_chaos.py stops the broker).
    def enqueue() -> None:
        _enqueue_logged(pk)

    transaction.on_commit(enqueue, robust=True)


def _enqueue_logged(pk: int) -> None:
    try:
        enqueue_delivery(pk)
    except Exception:
        logger.exception(
            "Could not enqueue outbound message %s; it stays queued "
            "(re-enqueue with manage.py webexteams_outbox retry --stuck)",
            pk,
        )
        raise


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


@dataclass
class _FileSpec:
    """What ``send_message(file=...)`` was given, normalised."""

    name: str
    url: str = ""
    content: File[Any] | None = None
    to_close: IO[Any] | None = None


def _is_url(value: str) -> bool:
    return is_url(value)


def _file_spec(file: Any) -> _FileSpec:
    """Accepts what the client accepts: a URL, a ``Path``, a Django ``File`` (an upload), a
    binary file object with a ``name``, or ``(filename, bytes_or_fileobj[, content_type])``."""
    if isinstance(file, list):
        if len(file) != 1:
            raise InvalidMessageError("Webex accepts one file per message; send several messages")
        file = file[0]
    if isinstance(file, tuple):
        if len(file) not in (2, 3) or not isinstance(file[0], str) or not file[0]:
            raise InvalidMessageError("a file tuple is (filename, data[, content_type])")
        name, data = os.path.basename(file[0]), file[1]
        if isinstance(data, bytes | bytearray):
            return _FileSpec(name, content=ContentFile(bytes(data), name=name))
        if hasattr(data, "read"):
            return _FileSpec(name, content=File(data, name=name))
        raise InvalidMessageError("a file tuple's data must be bytes or a binary file object")
    if isinstance(file, str) and _is_url(file):
        if len(file) > 255:  # kept in OutboundMessage.file_name (max_length 255)
            raise InvalidMessageError("a file URL may be at most 255 characters long")
        return _FileSpec(os.path.basename(file.split("?", 1)[0]) or "file", url=file)
    if isinstance(file, str):
        # Security: a string is a URL or nothing, never a path (see client.files.prepare_file:
        # a user-supplied "file URL" must not upload /proc/self/environ).
        raise InvalidMessageError(
            "file= as a string must be an http(s):// URL; pass a local file as a "
            "pathlib.Path or an open binary file (strings are never read as paths)"
        )
    if isinstance(file, os.PathLike):
        path = Path(file)
        if not path.is_file():
            raise InvalidMessageError(f"no such file: {path}")
        handle = path.open("rb")
        return _FileSpec(path.name, content=File(handle, name=path.name), to_close=handle)
    if isinstance(file, bytes | bytearray):
        raise InvalidMessageError("bytes need a name: pass file=(filename, data, content_type)")
    if hasattr(file, "read"):
        name = os.path.basename(str(getattr(file, "name", "") or ""))
        if not name:
            raise InvalidMessageError(
                "this file object has no name: pass file=(filename, fileobj, content_type)"
            )
        content = file if isinstance(file, File) else File(file, name=name)
        return _FileSpec(name, content=content)
    raise InvalidMessageError(f"unsupported file argument of type {type(file).__name__}")


def _check_file_size(spec: _FileSpec) -> None:
    if spec.content is None:
        return
    try:
        size = spec.content.size
    except (AttributeError, OSError, TypeError):
        return  # unknown size: Webex will tell
    if size is not None and size > MAX_FILE_BYTES:
        raise InvalidMessageError(f"{spec.name} is {size} bytes; Webex accepts at most 100 MB")


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


def _answers_itself(credential: Credential | None) -> str:
    """Why a message sent now with ``credential`` would answer the sender's own message
    (a loop), or ``""``.

    The loop breaker, behind the own-event check of the webhook receiver (defence in depth:
    if that check is ever wrong, a bot that answers every message answers its own replies
    for ever). It applies while webhook signal receivers run (``events.dispatching()``) for
    a ``messages:created`` event whose actor is the sending identity, known from facts that
    do not go stale: the ``personId`` Webex returned for this token's last posted message
    (``clients.remember_sender``), and, when the reply goes out with the webhook's own
    credential, the delivery's ``createdBy`` (who registered the webhook).
    """
    current = dispatching()
    if current is None:
        return ""
    event, webhook = current
    actor = event.actor_id
    if event.resource != "messages" or event.event != "created" or not actor:
        return ""
    same_identity = (credential.pk if credential else None) == webhook.credential_id
    if (same_identity and actor == event.created_by) or actor == sender_of(credential):
        return (
            f"loop breaker: message {event.data_id} was posted by the sending identity "
            "itself; a reply to it is never sent"
        )
    return ""


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


def resend(outbound_message: OutboundMessage) -> OutboundMessage:
    """Send a ``failed`` row again (the admin action "send again", ``webexteams_outbox
    retry``): status back to ``queued`` and a new task on commit. Refuses other statuses: a
    ``sent`` row would be posted twice, a ``queued``/``sending`` one is in progress."""
    with transaction.atomic():
        row = OutboundMessage.objects.select_for_update().get(pk=outbound_message.pk)
        if row.status != OutboundMessage.Status.FAILED:
            raise InvalidMessageError(
                f"outbound message {row.pk} is {row.status}; only failed messages can be sent again"
            )
        row.status = OutboundMessage.Status.QUEUED
        row.last_error = ""
        row.save(update_fields=["status", "last_error", "updated_at"])
        _enqueue_on_commit(row.pk)
    outbound_message.refresh_from_db()
    return outbound_message


def requeue_stuck(older_than: timedelta) -> int:
    """Enqueue a task again for rows ``queued`` or ``sending`` untouched for ``older_than``
    (their task was lost: broker flushed, enqueue failed after commit). Safe to run at any
    time: an extra task for a row that is being sent waits for the lease, one for a sent row
    does nothing. Returns how many were enqueued."""
    cutoff = timezone.now() - older_than
    pks = list(
        OutboundMessage.objects.filter(
            status__in=[OutboundMessage.Status.QUEUED, OutboundMessage.Status.SENDING],
            updated_at__lt=cutoff,
        ).values_list("pk", flat=True)
    )
    for pk in pks:
        enqueue_delivery(pk)
    return len(pks)


# --- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    """What :func:`deliver` did. ``outcome``: ``"sent"``, ``"failed"``, ``"skipped"`` (already
    final, or deleted) or ``"retry"`` (the task must run again in ``countdown`` seconds with
    ``retry_kwargs``). ``reason`` is for logs."""

    outcome: str
    reason: str = ""
    countdown: float | None = None
    retry_kwargs: dict[str, Any] = field(default_factory=dict)
    reconciled: bool = False


def lease_seconds() -> float:
    """How long a claim (status ``sending``) protects a row from other copies of the task:
    ``WEBEXTEAMS["SEND_LEASE_SECONDS"]``, default connect + read timeout + 30 s."""
    value = conf.get("SEND_LEASE_SECONDS")
    if value is not None:
        return float(value)
    connect, read = conf.request_timeout()
    return connect + read + 30.0


def _max_countdown() -> float:
    return float(conf.get("MAX_COUNTDOWN"))


def _jitter(wait: float) -> float:
    # Spread the tasks that waited for the same moment, so they do not all call Webex in the
    # same instant (and trip the limit again): up to a quarter of the wait, 1..30 s.
    return random.uniform(0.0, min(30.0, max(1.0, 0.25 * wait)))


def _wait_countdown(wait: float) -> float:
    """Retry-After / gate / lease waits: the wait plus jitter, capped by MAX_COUNTDOWN (below
    the broker's visibility timeout: a Redis/SQS broker redelivers a task whose ETA lies
    beyond it to another worker). A wait longer than the cap is done in several hops: the
    gate remembers the full wait."""
    return min(wait + _jitter(wait), _max_countdown())


def _backoff_countdown(failures: int) -> float:
    """Exponential backoff with full jitter (uniform in [0, min(MAX, BASE * 2**(n-1))])."""
    base = float(conf.get("SEND_BACKOFF_BASE"))
    cap = float(conf.get("SEND_BACKOFF_MAX"))
    ceiling = min(cap, base * (2 ** max(0, failures - 1)))
    return min(random.uniform(0.0, ceiling), _max_countdown())


def _retry(
    countdown: float,
    reason: str,
    *,
    reconcile_since: str | None,
    failures: int,
    ticket: str | None = None,
) -> DeliveryResult:
    kwargs: dict[str, Any] = {"failures": failures}
    if reconcile_since:
        kwargs["reconcile_since"] = reconcile_since
    if ticket:
        kwargs["ticket"] = ticket
    return DeliveryResult("retry", reason, countdown=countdown, retry_kwargs=kwargs)


def _earliest(a: str | None, b: datetime | None) -> str | None:
    if b is None:
        return a
    if a is None:
        return b.isoformat()
    parsed = parse_datetime(a)
    return a if parsed is not None and parsed <= b else b.isoformat()


def deliver(
    pk: int, *, reconcile_since: str | None = None, failures: int = 0, ticket: str | None = None
) -> DeliveryResult:
    """Make one delivery attempt for the outbox row ``pk`` (the body of the Celery task).

    ``reconcile_since``: ISO time of the earliest earlier attempt whose outcome is unknown
    (reconcile before posting). ``failures``: 5xx/transport failures so far (bounded by
    ``SEND_MAX_ATTEMPTS``). ``ticket``: the wake-up slot an earlier run was given (adaptive
    pacing, :func:`django_webexteams.ratelimit.acquire`). Never sleeps: waiting is the
    caller's job (a Celery countdown).
    """
    try:
        peek = OutboundMessage.objects.select_related("credential").get(pk=pk)
    except OutboundMessage.DoesNotExist:
        return DeliveryResult("skipped", "deleted")
    if peek.status in (OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED):
        return DeliveryResult("skipped", f"already {peek.status}")

    key = rate_limit_key(peek.credential)
    paced = _admission(key, ticket)
    if paced is not None:
        # Adaptive pacing: admission also keeps the gate (never admitted while it is closed).
        if paced.wait > 0:
            return _slot_retry(paced, "pacing", reconcile_since=reconcile_since,
                               failures=failures)  # fmt: skip
    else:
        # The shared gate first: a credential another worker saw a 429 for is not called.
        # (A cache error counts as an open gate: sending on, and honouring each 429's
        # Retry-After in this task, beats stopping every send while the cache is down.)
        wait = _cache_safe(ratelimit.blocked_for, key)
        if wait > 0:
            return _retry(_wait_countdown(wait), "rate-limit gate closed",
                          reconcile_since=reconcile_since, failures=failures)  # fmt: skip
        wait = _cache_safe(ratelimit.take_slot, key)
        if wait > 0:
            return _retry(wait + random.uniform(0.0, 1.0), "pacing",
                          reconcile_since=reconcile_since, failures=failures)  # fmt: skip

    claimed = _claim(pk)
    if isinstance(claimed, DeliveryResult):
        if claimed.outcome == "retry":
            return _retry(claimed.countdown or 0.0, claimed.reason,
                          reconcile_since=reconcile_since, failures=failures)  # fmt: skip
        return claimed
    row, crashed_since = claimed
    attempt_started = row.updated_at
    reconcile_since = _earliest(reconcile_since, crashed_since)
    return _attempt(row, key, attempt_started, reconcile_since, failures)


def _admission(key: str, ticket: str | None) -> ratelimit.Ticket | None:
    """Admission by the adaptive pacing, or ``None`` when it is off or its cache fails
    (then the caller falls back to the plain gate: a cache outage must not stop sending)."""
    if ratelimit.pace_config() is None:
        return None
    try:
        return ratelimit.acquire(key, ticket)
    except Exception:
        logger.warning("Adaptive pacing unavailable (rate-limit cache error); using the gate only",
                       exc_info=True)  # fmt: skip
        return None


def _slot_retry(
    paced: ratelimit.Ticket, reason: str, *, reconcile_since: str | None, failures: int
) -> DeliveryResult:
    if paced.rate <= 0:
        # Not learnt yet (unpaced): every waiting task got the gate's end as its slot, so
        # spread them with jitter as the plain gate does, and let them ask again then.
        return _retry(_wait_countdown(paced.wait), reason,
                      reconcile_since=reconcile_since, failures=failures)  # fmt: skip
    # Come back at the wake-up slot (in hops of MAX_COUNTDOWN), carrying it.
    return _retry(min(paced.wait, _max_countdown()), reason, reconcile_since=reconcile_since,
                  failures=failures, ticket=paced.token)  # fmt: skip


def _cache_safe(func: Any, key: str) -> float:
    """``func(key)`` (a wait in seconds), or 0.0 when the rate-limit cache errs (logged)."""
    try:
        return float(func(key))
    except Exception:
        logger.warning("Rate-limit cache error in %s; not waiting", func.__name__, exc_info=True)
        return 0.0


def _pacing_call(func: Any, *args: Any, **kwargs: Any) -> bool:
    """Run a ratelimit bookkeeping call; a cache error is logged, never raised (the send's
    outcome is already decided). Returns whether it worked."""
    try:
        func(*args, **kwargs)
    except Exception:
        logger.warning("Rate-limit cache error in %s", func.__name__, exc_info=True)
        return False
    return True


def _claim(pk: int) -> tuple[OutboundMessage, datetime | None] | DeliveryResult:
    """Take the lease on the row, or say why not. Returns the row and, when a dead worker's
    lease was taken over, the time that worker's attempt began (its outcome is unknown)."""
    with transaction.atomic():
        # No select_related here: FOR UPDATE would lock the credential row too.
        row = OutboundMessage.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            return DeliveryResult("skipped", "deleted")
        if row.status in (OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED):
            return DeliveryResult("skipped", f"already {row.status}")
        now = timezone.now()
        crashed_since = None
        if row.status == OutboundMessage.Status.SENDING:
            held_until = row.updated_at + timedelta(seconds=lease_seconds())
            if held_until > now:
                # Another copy of this task is posting right now (a redelivered or duplicate
                # task message): never post concurrently. Come back when its lease ends.
                remaining = (held_until - now).total_seconds()
                return DeliveryResult("retry", "another attempt holds the lease",
                                      countdown=_wait_countdown(remaining))  # fmt: skip
            # The lease ran out while the row was still "sending": that worker died mid-send.
            crashed_since = row.updated_at
            logger.warning(
                "Outbound message %s: taking over an attempt that started at %s and never "
                "finished (worker lost?)",
                pk,
                row.updated_at.isoformat(),
            )
        row.status = OutboundMessage.Status.SENDING
        row.attempts += 1
        row.save(update_fields=["status", "attempts", "updated_at"])
    return row, crashed_since


_local = threading.local()


def _client_for(credential: Credential | None) -> WebexClient:
    """The sending client. The settings' bot client is reused per thread (one pooled
    connection per worker process instead of a new TCP/TLS handshake per message), keyed by
    everything it is built from, so a changed setting builds a new one. Credential clients are
    built per send: their token may have been refreshed by another worker."""
    token = bot_token()
    if credential is not None or token is None:
        return client_for(credential)
    key = (
        token,
        conf.api_base_url(),
        conf.request_timeout(),
        tuple(conf.get("TRUSTED_API_HOSTS") or ()),
    )
    cached = getattr(_local, "bot_client", None)
    if cached is None or cached[0] != key:
        _local.bot_client = cached = (key, client_for(None))
    return cached[1]


def _attempt(
    row: OutboundMessage,
    key: str,
    attempt_started: datetime,
    reconcile_since: str | None,
    failures: int,
) -> DeliveryResult:
    from django_webexteams import tokens

    try:
        client = _client_for(row.credential)
    except (ImproperlyConfigured, tokens.CredentialInactiveError) as exc:
        return _fail(row, exc)
    except tokens.TokenError as exc:  # a transient refresh failure
        return _transient(row, exc, failures, reconcile_since)

    if reconcile_since:
        since = parse_datetime(reconcile_since) or attempt_started
        try:
            found = _find_posted(client, row, since)
        except _LookupFailed as failure:
            # Webex may hold the message and we could not look this time: posting now could
            # duplicate it, so look again later (the row stays queued, still to reconcile).
            error = failure.error
            _requeue(row, error)
            if isinstance(error, RetryLaterError):
                # A 429/423 on the lookup is a wait, not a failure (the GETs share the limit).
                if isinstance(error, RateLimitedError):
                    _pacing_call(ratelimit.block, key, error.retry_after)
                return _retry(_wait_countdown(error.retry_after), "reconciliation: Retry-After",
                              reconcile_since=reconcile_since, failures=failures)  # fmt: skip
            return _transient(row, error, failures, reconcile_since)
        if found is not None:
            return _mark_sent(row, found, reconciled=True)

    paced = ratelimit.pace_config() is not None
    started = time.time()
    try:
        message = _post(client, row)
    except RetryLaterError as exc:
        # 429 (rate limit) or 423 (file being scanned): Webex did not store the message.
        _requeue(row, exc)
        reason = f"{exc.status_code} Retry-After"
        if isinstance(exc, RateLimitedError):
            if paced and _pacing_call(ratelimit.record_429, key, exc.retry_after,
                                      started=started):  # fmt: skip
                # A fresh slot after the gate, at the lowered rate: no herd when it opens.
                slot = _admission(key, None)
                if slot is not None and slot.wait > 0:
                    return _slot_retry(slot, reason, reconcile_since=reconcile_since,
                                       failures=failures)  # fmt: skip
            else:
                _pacing_call(ratelimit.block, key, exc.retry_after)
        return _retry(_wait_countdown(exc.retry_after), reason,
                      reconcile_since=reconcile_since, failures=failures)  # fmt: skip
    except (ServerError, MalformedResponseError, TransportError) as exc:
        # Outcome unknown: Webex may have stored the message (a proxy's 502/504, a garbled
        # 200, a connection dropped after the request went out). Reconcile next time.
        return _transient(row, exc, failures, _earliest(reconcile_since, attempt_started))
    except ApiError as exc:
        # 400/401/403/404/409/...: Webex refused the message; retrying cannot help. (A 401 on
        # a refreshable user credential was already refreshed and retried once inside the
        # client, through Credential.client()'s on_unauthorized hook.)
        return _fail(row, exc)
    except WebexError as exc:
        return _transient(row, exc, failures, _earliest(reconcile_since, attempt_started))
    except (StoredFileError, ValueError) as exc:
        # The stored file is gone or unreadable, or the client refused the arguments (checked
        # before any request): neither gets better by retrying.
        return _fail(row, exc)
    except Exception as exc:
        # Anything else (a bug, an unwrapped library error) may have hit after the request
        # went out: log it, treat the outcome as unknown, retry within SEND_MAX_ATTEMPTS.
        # Letting it escape would leave the row "sending" until its lease runs out.
        logger.exception("Outbound message %s: unexpected error while sending", row.pk)
        return _transient(row, exc, failures, _earliest(reconcile_since, attempt_started))
    return _mark_sent(row, message)


def _post(client: WebexClient, row: OutboundMessage) -> Message:
    kwargs: dict[str, Any] = {
        "room_id": row.room_id or None,
        "to_person_id": row.to_person_id or None,
        "to_person_email": row.to_person_email or None,
        "text": row.text or None,
        "markdown": row.markdown or None,
        "parent_id": row.parent_id or None,
        "attachments": row.attachments or None,
    }
    if row.file:
        stored = str(row.file.name)
        name = row.file_name or os.path.basename(stored)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            handle = row.file.storage.open(stored, "rb")
        except OSError as exc:
            raise StoredFileError(f"cannot read the queued file {stored!r}: {exc}") from exc
        try:
            # Multipart upload; the client closes the handle, we make sure of it too.
            return client.messages.create(files=[(name, handle, content_type)], **kwargs)
        finally:
            handle.close()
    if row.file_name and _is_url(row.file_name):
        return client.messages.create(files=[row.file_name], **kwargs)
    return client.messages.create(**kwargs)


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


def _requeue(row: OutboundMessage, exc: Exception) -> None:
    row.status = OutboundMessage.Status.QUEUED
    row.last_error = _describe(exc)
    row.tracking_id = getattr(exc, "tracking_id", None) or ""
    row.save(update_fields=["status", "last_error", "tracking_id", "updated_at"])


def _transient(
    row: OutboundMessage, exc: Exception, failures: int, reconcile_since: str | None
) -> DeliveryResult:
    failures += 1
    max_attempts = int(conf.get("SEND_MAX_ATTEMPTS"))
    if failures >= max_attempts:
        return _fail(row, exc, note=f" (gave up after {failures} attempts)")
    _requeue(row, exc)
    logger.warning(
        "Outbound message %s: attempt failed (%s); retrying (%s/%s)",
        row.pk,
        _describe(exc),
        failures,
        max_attempts,
    )
    return _retry(_backoff_countdown(failures), _describe(exc),
                  reconcile_since=reconcile_since, failures=failures)  # fmt: skip


def _describe(exc: Exception) -> str:
    # Client errors never contain a token or a body (django_webexteams.client.errors).
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TransportError):
        text = f"{type(exc).__name__}: {text}"
    return text[:2000]


def _fail(row: OutboundMessage, exc: Exception, note: str = "") -> DeliveryResult:
    row.status = OutboundMessage.Status.FAILED
    row.last_error = _describe(exc) + note
    row.tracking_id = getattr(exc, "tracking_id", None) or row.tracking_id or ""
    row.save(update_fields=["status", "last_error", "tracking_id", "updated_at"])
    logger.warning("Outbound message %s failed: %s", row.pk, row.last_error)
    _send_signal(signals.message_failed, row, error=exc)
    return DeliveryResult("failed", row.last_error)


def _mark_sent(
    row: OutboundMessage, message: Message, *, reconciled: bool = False
) -> DeliveryResult:
    row.status = OutboundMessage.Status.SENT
    row.webex_message_id = message.id or ""
    row.tracking_id = message.tracking_id or ""
    row.sent_at = timezone.now()
    row.last_error = ""
    row.save(
        update_fields=[
            "status", "webex_message_id", "tracking_id", "sent_at", "last_error", "updated_at",
        ]
    )  # fmt: skip
    # Webex says who sent it: the loop breaker's (_answers_itself) view of this identity.
    remember_sender(row.credential, message.person_id)
    if row.file:
        # The stored copy has done its job. A storage error must not undo "sent".
        try:
            row.file.delete(save=False)
            row.save(update_fields=["file"])
        except Exception:
            logger.exception("Outbound message %s: could not delete its stored file", row.pk)
    _send_signal(signals.message_sent, row)
    return DeliveryResult("sent", row.webex_message_id, reconciled=reconciled)


def _send_signal(signal: Any, row: OutboundMessage, **kwargs: Any) -> None:
    # send_robust: a failing receiver is logged; it must not turn a delivered message into a
    # task failure (nor a retry that could post it twice).
    for receiver, result in signal.send_robust(
        sender=OutboundMessage, outbound_message=row, **kwargs
    ):
        if isinstance(result, Exception):
            logger.error(
                "Outbound message %s: signal receiver %r raised %r", row.pk, receiver, result
            )
