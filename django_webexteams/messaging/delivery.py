"""Delivering an outbox row to Webex: :func:`deliver`, run by the Celery task
``webexteams.deliver_message`` (:mod:`django_webexteams.messaging.queue`).

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

import logging
import mimetypes
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_webexteams import conf, signals
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
from django_webexteams.clients import bot_token, client_for, rate_limit_key, remember_sender
from django_webexteams.messaging import ratelimit
from django_webexteams.messaging.countdown import (
    _backoff_countdown,
    _max_countdown,
    _wait_countdown,
    lease_seconds,
)
from django_webexteams.messaging.errors import StoredFileError
from django_webexteams.messaging.reconcile import _find_posted, _LookupFailed
from django_webexteams.models import OutboundMessage

if TYPE_CHECKING:
    from django_webexteams.client import Message, WebexClient
    from django_webexteams.models import Credential

__all__ = [
    "DeliveryResult",
    "deliver",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.messaging")


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
    pacing, :func:`django_webexteams.messaging.ratelimit.acquire`). Never sleeps: waiting is the
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
    if row.file_name and is_url(row.file_name):
        return client.messages.create(files=[row.file_name], **kwargs)
    return client.messages.create(**kwargs)


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
