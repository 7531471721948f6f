"""Webhook service functions: registration at Webex, accepting deliveries, dispatch to
signals, health checks and retention.

Views, admin actions, commands and tasks call these functions; they hold the logic. See
docs/webhooks.md for the security model and the dispatch modes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from django_webexteams import conf, outcomes, signals
from django_webexteams.clients import IDENTITY_CACHE_SECONDS, client_for, identity_cache_key
from django_webexteams.events import _DISPATCHING, WebhookEvent
from django_webexteams.models import Credential, PrunedDelivery, Webhook, WebhookDelivery

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

__all__ = [
    "CheckResult",
    "InvalidPayloadError",
    "Registration",
    "SyncResult",
    "accept_delivery",
    "active_registration",
    "check_webhooks",
    "dedupe_key",
    "delete_webhook",
    "dispatch_mode",
    "flush_outcomes",
    "forget_registrations",
    "list_remote_webhooks",
    "lookup_registration",
    "own_person_id",
    "parse_payload",
    "process_delivery",
    "prune_deliveries",
    "reactivate_webhook",
    "register_webhook",
    "reprocess_delivery",
    "rotate_secret",
    "sync_webhooks",
    "target_url_for",
]

logger = logging.getLogger(__name__)

# Column sizes of WebhookDelivery: a longer value is refused as bad input (400) instead of
# reaching the database, where PostgreSQL would raise DataError (a 500).
_MAX_NAME = 64
_MAX_ID = 255


# --- configuration ----------------------------------------------------------------------------


def dispatch_mode() -> str:
    """``WEBHOOK_DISPATCH``: ``"sync"`` or ``"celery"`` (anything else is a configuration
    error, raised loudly rather than silently dropping events)."""
    mode = conf.get("WEBHOOK_DISPATCH")
    if mode not in ("sync", "celery"):
        raise ImproperlyConfigured(
            f'WEBEXTEAMS["WEBHOOK_DISPATCH"] must be "sync" or "celery", not {mode!r}.'
        )
    return str(mode)


def _base_url() -> str:
    base = conf.get("WEBHOOK_BASE_URL")
    if not base:
        raise ImproperlyConfigured(
            'Set WEBEXTEAMS["WEBHOOK_BASE_URL"] to the public https URL at which Webex reaches '
            'this site (e.g. "https://bot.example.com") before registering webhooks.'
        )
    parts = urlsplit(str(base))
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ImproperlyConfigured(
            f'WEBEXTEAMS["WEBHOOK_BASE_URL"] must be an absolute http(s) URL, not {base!r}.'
        )
    return str(base).rstrip("/")


def target_url_for(webhook: Webhook) -> str:
    """The public URL of ``webhook``'s receiver: ``WEBHOOK_BASE_URL`` + ``webexteams:webhook``."""
    try:
        path = reverse("webexteams:webhook", kwargs={"uuid": webhook.uuid})
    except NoReverseMatch as exc:
        raise ImproperlyConfigured(
            'The URL "webexteams:webhook" is not installed: add '
            'path("webex/", include("django_webexteams.urls")) to your URLconf.'
        ) from exc
    return _base_url() + path


# --- registration -----------------------------------------------------------------------------


def register_webhook(
    *,
    name: str,
    resource: str,
    event: str,
    filter: str | None = None,
    credential: Credential | None = None,
) -> Webhook:
    """Create a webhook at Webex that delivers to this site, and store it.

    A fresh secret from ``generate_secret()`` (>= 32 random bytes) signs its deliveries.
    The target is ``WEBHOOK_BASE_URL`` + the URL of ``webexteams:webhook`` for a new uuid.
    ``credential=None`` registers with ``WEBEXTEAMS["BOT_TOKEN"]``.

    Webex is called first and the row saved after, so no row exists for a registration
    Webex refused; if saving fails, the remote webhook is deleted again (a transaction of
    the caller's that rolls back later cannot undo the remote part: ``sync_webhooks``
    reports such webhooks as unknown). Raises ``ImproperlyConfigured`` (no
    ``WEBHOOK_BASE_URL``, no token) and the client's errors.
    """
    from django_webexteams.client import generate_secret

    client = client_for(credential)
    webhook = Webhook(
        name=name,
        resource=resource,
        event=event,
        filter=filter or "",
        secret=generate_secret(),
        credential=credential,
    )
    webhook.target_url = target_url_for(webhook)
    remote = client.webhooks.create(
        name=name,
        target_url=webhook.target_url,
        resource=resource,
        event=event,
        filter=filter or None,
        secret=webhook.secret,
    )
    webhook.webex_id = remote.id
    webhook.status = _local_status(remote.status)
    try:
        webhook.save()
    except Exception:
        # Do not leave a webhook at Webex that delivers to a uuid nobody knows.
        try:
            _delete_remote(client, str(remote.id))
        except Exception:
            logger.exception("Could not delete the orphaned webhook %s at Webex", remote.id)
        raise
    # Learn the credential's own person id now, while we know the token works, so that the
    # first delivery does not need an extra request (see own_person_id).
    try:
        own_person_id(webhook, client=client)
    except Exception:
        logger.warning("Could not look up the person id of %r (people/me)", webhook)
    logger.info("Registered %r (%s:%s)", webhook, resource, event)
    return webhook


def _local_status(remote_status: str | None) -> str:
    return Webhook.Status.INACTIVE if remote_status == "inactive" else Webhook.Status.ACTIVE


def _delete_remote(client: WebexClient, webex_id: str) -> bool:
    """Delete at Webex; ``False`` when it was already gone (404)."""
    from django_webexteams.client import NotFoundError

    try:
        client.webhooks.delete(webex_id)
    except NotFoundError:
        return False
    return True


def list_remote_webhooks(credential: Credential | None = None) -> list[Any]:
    """The webhooks Webex holds for ``credential`` (typed ``client.Webhook`` objects).

    Includes ones not registered through this app; their secrets are not ours to know.
    """
    return list(client_for(credential).webhooks.list())


def delete_webhook(webhook: Webhook, *, keep_row: bool = False) -> bool:
    """Delete ``webhook`` at Webex (a 404 there counts as done), then delete the row (and its
    deliveries), or with ``keep_row=True`` keep it, marked ``missing``, for its delivery
    history. Returns whether Webex still had it."""
    existed = False
    if webhook.webex_id:
        existed = _delete_remote(client_for(webhook.credential), webhook.webex_id)
    if keep_row:
        webhook.status = Webhook.Status.MISSING
        webhook.save(update_fields=["status", "updated_at"])
    else:
        webhook.delete()
    return existed


def _update_remote(webhook: Webhook, **changes: Any) -> Any:
    """PUT /webhooks/{id}. Webex's update takes ``name`` and ``targetUrl`` (required) and
    ``secret``/``status``; we always send the current secret so that an update can never
    leave the webhook unsigned (https://developer.webex.com/docs/api/v1/webhooks/update-a-webhook).
    """
    if not webhook.webex_id:
        raise ValueError(f"{webhook!r} is not registered at Webex (no webex_id).")
    kwargs: dict[str, Any] = {
        "name": webhook.name,
        "target_url": webhook.target_url,
        "secret": webhook.secret or None,
    }
    kwargs.update(changes)
    return client_for(webhook.credential).webhooks.update(webhook.webex_id, **kwargs)


def reactivate_webhook(webhook: Webhook) -> Webhook:
    """Set ``status: active`` at Webex (Webex never re-enables a webhook it disabled after
    failed deliveries) and store the status Webex reports back."""
    remote = _update_remote(webhook, status="active")
    webhook.status = _local_status(getattr(remote, "status", None))
    webhook.last_checked_at = timezone.now()
    webhook.save(update_fields=["status", "last_checked_at", "updated_at"])
    logger.info("Reactivated %r", webhook)
    return webhook


def rotate_secret(webhook: Webhook) -> Webhook:
    """Give ``webhook`` a new secret at Webex, then store it.

    The new secret is stored only after Webex accepted it: if the PUT fails, the row keeps
    the secret Webex still signs with. Deliveries Webex signed with the old secret (in
    flight while this runs) are still accepted for ``WEBHOOK_SECRET_GRACE_SECONDS`` after
    the rotation, and never after: the old secret is kept as ``previous_secret`` with the
    rotation time. Saving the row invalidates every process's registration cache (through
    the shared cache, see :func:`forget_registrations`).
    """
    from django_webexteams.client import generate_secret

    new_secret = generate_secret()
    _update_remote(webhook, secret=new_secret)
    webhook.previous_secret = webhook.secret
    webhook.secret_rotated_at = timezone.now()
    webhook.secret = new_secret
    webhook.save(update_fields=["secret", "previous_secret", "secret_rotated_at", "updated_at"])
    logger.info("Rotated the secret of %r", webhook)
    return webhook


@dataclass
class SyncResult:
    """What :func:`sync_webhooks` found. ``unknown`` lists webhooks at Webex with no row
    (registered elsewhere; their secrets are unknown, so they are reported, not imported)."""

    updated: list[Webhook] = field(default_factory=list)
    missing: list[Webhook] = field(default_factory=list)
    unknown: list[Any] = field(default_factory=list)


def sync_webhooks(credential: Credential | None = None) -> SyncResult:
    """Make the rows of ``credential`` (``None``: the bot token's rows) agree with Webex,
    which is the source of truth: a row whose ``webex_id`` Webex no longer lists is marked
    ``missing``; name, target URL, filter and status are copied from Webex."""
    result = SyncResult()
    remote = {w.id: w for w in list_remote_webhooks(credential)}
    rows = Webhook.objects.filter(credential=credential).exclude(webex_id=None)
    now = timezone.now()
    for row in rows:
        item = remote.pop(row.webex_id, None)
        if item is None:
            if row.status != Webhook.Status.MISSING:
                row.status = Webhook.Status.MISSING
                row.last_checked_at = now
                row.save(update_fields=["status", "last_checked_at", "updated_at"])
                result.missing.append(row)
            continue
        row.name = item.name or row.name
        row.target_url = item.target_url or row.target_url
        row.filter = item.filter or ""
        row.status = _local_status(item.status)
        row.last_checked_at = now
        row.save(update_fields=["name", "target_url", "filter", "status", "last_checked_at",
                                "updated_at"])  # fmt: skip
        result.updated.append(row)
    result.unknown = list(remote.values())
    return result


# --- health -----------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """What :func:`check_webhooks` found, as lists of rows."""

    active: list[Webhook] = field(default_factory=list)
    disabled: list[Webhook] = field(default_factory=list)
    reactivated: list[Webhook] = field(default_factory=list)
    missing: list[Webhook] = field(default_factory=list)
    errors: list[Webhook] = field(default_factory=list)


def check_webhooks(webhooks: Iterable[Webhook] | None = None) -> CheckResult:
    """Read each webhook at Webex and record its status.

    Webex disables a webhook after 100 failed deliveries in 5 minutes and never re-enables
    it. One found ``inactive`` sends ``webhook_disabled`` (kwargs ``webhook``,
    ``reactivated``) and, with ``WEBHOOK_AUTO_REACTIVATE``, is reactivated first. One Webex
    no longer has (404) is marked ``missing``. An error reading one webhook is logged and
    the others are still checked.
    """
    from django_webexteams.client import NotFoundError

    result = CheckResult()
    if webhooks is None:
        webhooks = Webhook.objects.exclude(webex_id=None).exclude(status=Webhook.Status.MISSING)
    auto = bool(conf.get("WEBHOOK_AUTO_REACTIVATE"))
    for webhook in webhooks:
        if not webhook.webex_id:
            continue  # never registered at Webex: nothing to check
        try:
            remote = client_for(webhook.credential).webhooks.get(webhook.webex_id)
        except NotFoundError:
            webhook.status = Webhook.Status.MISSING
            webhook.last_checked_at = timezone.now()
            webhook.save(update_fields=["status", "last_checked_at", "updated_at"])
            result.missing.append(webhook)
            continue
        except Exception:
            logger.exception("Could not read %r at Webex", webhook)
            result.errors.append(webhook)
            continue
        webhook.last_checked_at = timezone.now()
        if remote.status != "inactive":
            webhook.status = Webhook.Status.ACTIVE
            webhook.save(update_fields=["status", "last_checked_at", "updated_at"])
            result.active.append(webhook)
            continue
        webhook.status = Webhook.Status.INACTIVE
        webhook.save(update_fields=["status", "last_checked_at", "updated_at"])
        result.disabled.append(webhook)
        reactivated = False
        if auto:
            try:
                reactivate_webhook(webhook)
                reactivated = webhook.status == Webhook.Status.ACTIVE
            except Exception:
                logger.exception("Could not reactivate %r", webhook)
        if reactivated:
            result.reactivated.append(webhook)
        logger.warning("Webex disabled %r (reactivated: %s)", webhook, reactivated)
        signals.webhook_disabled.send_robust(
            sender=Webhook, webhook=webhook, reactivated=reactivated
        )
    return result


# --- receiving --------------------------------------------------------------------------------


class InvalidPayloadError(ValueError):
    """A correctly signed body that is not a usable Webex webhook payload (answered 400).

    The message names the problem and never contains the body.
    """


def _reject_constant(name: str) -> Any:
    raise InvalidPayloadError(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    # A literal like 1e400 parses to inf, which json.dumps writes back as Infinity and
    # PostgreSQL's jsonb refuses: storing it would answer 500 to a signed but odd body.
    value = float(text)
    if not math.isfinite(value):
        raise InvalidPayloadError("JSON number out of range")
    return value


def _check_strings(value: Any) -> None:
    """Refuse strings PostgreSQL cannot store in jsonb (NUL, lone surrogates): storing them
    would raise DataError and answer 500 to a signed but odd body."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidPayloadError("NUL character in a string")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidPayloadError("invalid unicode in a string") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _short_str(payload: dict[str, Any], key: str, limit: int, *, required: bool) -> str:
    value = payload.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidPayloadError(f"{key!r} must be a non-empty string")
    if len(value) > limit:
        raise InvalidPayloadError(f"{key!r} is too long")
    return value


# json.loads() with hooks builds a decoder per call; this one is built once (it keeps no
# state between calls, so threads can share it).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_payload(body: bytes) -> dict[str, Any]:
    """Parse a (signature-checked) delivery body into the payload dict.

    Requires a JSON object (UTF-8) with string ``resource``, ``event`` and ``data.id``,
    and optional string ``id`` and ``actorId``. Raises :class:`InvalidPayloadError`.
    """
    try:
        payload = _DECODER.decode(body.decode("utf-8"))
    except InvalidPayloadError:
        raise
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayloadError("body is not JSON") from None
    except RecursionError:
        raise InvalidPayloadError("JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidPayloadError("body is not a JSON object")
    _short_str(payload, "resource", _MAX_NAME, required=True)
    _short_str(payload, "event", _MAX_NAME, required=True)
    _short_str(payload, "id", _MAX_ID, required=False)
    _short_str(payload, "actorId", _MAX_ID, required=False)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidPayloadError("'data' must be an object")
    _short_str(data, "id", _MAX_ID, required=True)
    if b"\\u" in body:
        # Only a \u escape can put a NUL or a lone surrogate into a parsed string: strict
        # UTF-8 decoding refuses encoded surrogates and json.loads refuses raw control
        # characters in strings. Without one, the walk is skipped (it runs per delivery).
        _check_strings(payload)
    return payload


def dedupe_key(payload: dict[str, Any]) -> str:
    """The key under which a delivery is stored once.

    Webex sends no delivery id and no event timestamp, and a redelivery repeats the event.
    The key is a SHA-256 over the fields that describe the *event* - the webhook id,
    ``resource``, ``event``, ``actorId`` and the whole ``data`` object - in canonical JSON.
    The registration's own fields (``name``, ``status``, ``targetUrl``...) are left out
    because they may change between a delivery and its redelivery. Distinct events differ
    in ``data`` (a new message has a new id; a room update a new ``lastActivity``); the one
    blind spot is an update that ends in exactly the data of an earlier update of the same
    object by the same actor (e.g. moderator on, off, on), which is treated as a redelivery.
    """
    material = {
        "webhook": payload.get("id"),
        "resource": payload.get("resource"),
        "event": payload.get("event"),
        "actor": payload.get("actorId"),
        "data": payload.get("data"),
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


# --- the receiver's hot path ------------------------------------------------------------------
#
# What one accepted delivery costs (docs/webhooks.md, "Performance and its trade-offs"): the
# registration comes from a per-process cache (no query, no decryption) and the delivery is
# one INSERT ... ON CONFLICT DO NOTHING in autocommit: one statement, one durable commit. In
# sync mode the row written is dispatched from memory, and its final "processed" status is
# written by this process's batch writer (outcomes.py; see _finish).


@dataclass(frozen=True)
class Registration:
    """What the receiver needs of an active :class:`Webhook`, cached per process.

    ``values`` are the row's field values (``secret`` decrypted) in ``_attnames(Webhook)``
    order, to build a fresh :class:`Webhook` per request (receivers never share an instance).
    ``own_person_id`` is the credential's ``webex_person_id`` (``None`` without a stored
    credential). The decrypted secret lives in this process's memory only - never in a
    shared cache such as Redis or memcached.
    """

    pk: int
    webex_id: str | None
    secret: str
    credential_id: int | None
    own_person_id: str | None
    values: tuple[Any, ...]
    loaded_at: float
    using: str = "default"
    #: The secret before the last rotation and until when (``time.time()``) it is accepted;
    #: ``""``/``0.0`` without one.
    previous_secret: str = ""
    previous_until: float = 0.0
    #: The shared cache's registration generation when this was loaded (see
    #: :func:`forget_registrations`); ``None`` without a shared cache.
    generation: str | None = None

    def previous_secret_in_grace(self) -> str:
        """The previous secret while its grace period runs, else ``""``."""
        if self.previous_secret and time.time() < self.previous_until:
            return self.previous_secret
        return ""

    def __repr__(self) -> str:  # never show the secret
        return f"Registration(pk={self.pk}, webex_id={self.webex_id!r})"

    def webhook(self) -> Webhook:
        """A new, unsaved-state-free :class:`Webhook` instance for this request."""
        return Webhook.from_db(self.using, _attnames(Webhook), self.values)


_REGISTRATIONS: dict[Any, Registration] = {}
_REGISTRATIONS_LOCK = threading.Lock()


@functools.cache
def _attnames(model: type[Any]) -> tuple[str, ...]:
    """``model``'s concrete field attnames in column order, as ``from_db()`` takes them
    (computed once per model: the receiver builds rows per delivery)."""
    return tuple(f.attname for f in model._meta.concrete_fields)


#: Key, in the default Django cache, of the registrations' generation: a random value that
#: every ``Webhook`` save or delete replaces. Processes compare it with the one their cached
#: registration was loaded under, so a deactivation, deletion or rotation made anywhere
#: (admin, commands, health check) applies in every process at once.
GENERATION_KEY = "webexteams:webhook-registrations:generation"

# Per-process cache backends: they cannot carry a change to another process (and the local
# dictionary is already cleared in this one), so they are not asked per delivery.
_LOCAL_CACHES = ("LocMemCache", "DummyCache")


def _shared_cache() -> Any:
    """The default cache when it is shared between processes (Redis, memcached, database,
    file), else ``None``."""
    cache = caches["default"]
    return None if type(cache).__name__ in _LOCAL_CACHES else cache


def _shared_generation(cache: Any) -> str | None:
    """The current generation in the shared ``cache``; ``None`` when it cannot be read (the
    receiver then falls back to ``WEBHOOK_CACHE_SECONDS``; a cache outage never fails a
    delivery)."""
    try:
        value = cache.get(GENERATION_KEY)
    except Exception:
        logger.warning("Could not read the webhook registration generation from the cache")
        return None
    return str(value) if value is not None else ""


def forget_registrations(*_: Any, **__: Any) -> None:
    """Empty this process's registration cache, and (through the shared cache, when there is
    one) every other process's: connected to ``Webhook`` saves and deletes, so a change made
    anywhere applies everywhere at once. Without a shared cache, other processes see it
    within ``WEBHOOK_CACHE_SECONDS``."""
    with _REGISTRATIONS_LOCK:
        _REGISTRATIONS.clear()
    cache = _shared_cache()
    if cache is not None:
        try:
            cache.set(GENERATION_KEY, secrets.token_hex(8), None)
        except Exception:
            logger.warning(
                "Could not publish a webhook change to the cache; other processes "
                "see it within WEBHOOK_CACHE_SECONDS"
            )


def active_registration(uuid: Any, *, fresh: bool = False) -> Registration | None:
    """The active registration for ``uuid``, or ``None`` for an unknown or inactive one.

    From this process's cache unless it is older than ``WEBHOOK_CACHE_SECONDS`` (``0``
    turns the cache off) or ``fresh``. Unknown and inactive uuids are never cached: a 404
    always asks the database.
    """
    return lookup_registration(uuid, fresh=fresh)[0]


def lookup_registration(uuid: Any, *, fresh: bool = False) -> tuple[Registration | None, bool]:
    """:func:`active_registration` and whether it came from the cache (the receiver then
    re-reads the row before rejecting a signature: a rotated secret works at once)."""
    ttl = float(conf.get("WEBHOOK_CACHE_SECONDS") or 0)
    now = time.monotonic()
    shared = _shared_cache() if ttl > 0 else None
    # Read before the row: a change published after this read makes the next request reload.
    generation = _shared_generation(shared) if shared is not None else None
    if not fresh and ttl > 0:
        cached = _REGISTRATIONS.get(uuid)
        if (
            cached is not None
            and now - cached.loaded_at < ttl
            and (generation is None or generation == cached.generation)
        ):
            return cached, True
    fields = _attnames(Webhook)
    # One query, no ORDER BY, only what is needed: values_list() still decrypts the secret,
    # and the credential's encrypted token is never read (only its person id).
    using = router.db_for_read(Webhook)
    found = list(
        Webhook.objects.using(using)
        .filter(uuid=uuid, status=Webhook.Status.ACTIVE)
        .order_by()
        .values_list(*fields, "credential__webex_person_id")[:1]
    )
    if not found:
        with _REGISTRATIONS_LOCK:
            _REGISTRATIONS.pop(uuid, None)
        return None, False
    values = tuple(found[0][:-1])
    named = dict(zip(fields, values, strict=True))
    rotated_at = named["secret_rotated_at"]
    grace = float(conf.get("WEBHOOK_SECRET_GRACE_SECONDS") or 0)
    registration = Registration(
        pk=named["id"],
        webex_id=named["webex_id"],
        secret=named["secret"] or "",
        credential_id=named["credential_id"],
        own_person_id=found[0][-1] or None,
        values=values,
        loaded_at=now,
        using=using,
        previous_secret=named["previous_secret"] or "",
        previous_until=rotated_at.timestamp() + grace if rotated_at and grace > 0 else 0.0,
        generation=generation,
    )
    if ttl > 0:
        with _REGISTRATIONS_LOCK:
            if len(_REGISTRATIONS) >= 1024:  # bounded, whatever the number of webhooks
                _REGISTRATIONS.clear()
            _REGISTRATIONS[uuid] = registration
    return registration, False


# A webhook saved or deleted in this process (admin, commands, sync, health check,
# rotate_secret) takes effect here at once; other processes see it within the TTL.
post_save.connect(forget_registrations, sender=Webhook, dispatch_uid="webexteams.registrations")
post_delete.connect(forget_registrations, sender=Webhook, dispatch_uid="webexteams.registrations")


_INSERT_SQL: dict[tuple[str, str], str | None] = {}


def _insert_sql(connection: Any) -> str | None:
    """``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`` for PostgreSQL and
    SQLite (3.35+); ``None`` on other backends (they take the ORM path). Built once per
    backend and table (it runs per delivery)."""
    key = (connection.vendor, WebhookDelivery._meta.db_table)
    if key not in _INSERT_SQL:
        _INSERT_SQL[key] = _build_insert_sql(connection)
    return _INSERT_SQL[key]


def _build_insert_sql(connection: Any) -> str | None:
    if connection.vendor not in ("postgresql", "sqlite"):
        return None
    if connection.vendor == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 35):
            return None
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in _insert_fields())
    if connection.vendor == "postgresql":
        # INSERT ... SELECT: PostgreSQL types the parameters by the casts (VALUES would take
        # the columns' types; there is no assignment cast from text to jsonb).
        marks = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in _insert_fields())
    else:
        marks = ", ".join(["%s"] * len(_INSERT_FIELDS))
    pruned = qn(PrunedDelivery._meta.db_table)
    # Identifiers come from the model's metadata, quoted; every value is a parameter. The
    # NOT EXISTS is the replay-after-prune check (a pruned delivery's key is kept in
    # PrunedDelivery): one primary-key probe inside the same statement, no extra query.
    # (The WHERE also settles SQLite's INSERT ... SELECT ... ON CONFLICT parsing ambiguity.)
    return (
        f"INSERT INTO {qn(WebhookDelivery._meta.db_table)} ({columns}) SELECT {marks} "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {pruned} WHERE {qn('dedupe_key')} = %s) "
        f"ON CONFLICT ({qn('dedupe_key')}) DO NOTHING RETURNING {qn('id')}"
    )


_INSERT_FIELDS = (
    "webhook",
    "dedupe_key",
    "resource",
    "event",
    "data_id",
    "actor_id",
    "payload",
    "status",
    "error",
    "traceback",
    "attempts",
    "received_at",
)


@functools.cache
def _insert_fields() -> tuple[Any, ...]:
    """The concrete fields written by :func:`_insert`, in ``_INSERT_FIELDS`` order
    (computed once, like :func:`_attnames`)."""
    by_name = {f.name: f for f in WebhookDelivery._meta.concrete_fields}
    return tuple(by_name[name] for name in _INSERT_FIELDS)


def _row(values: dict[str, Any]) -> list[Any]:
    """A delivery's ``values`` (by attname) in column order, as the model's positional
    constructor and ``from_db()`` take them."""
    return [values[name] for name in _attnames(WebhookDelivery)]


def _insert(using: str, values: dict[str, Any], text: str | None) -> int | None:
    """Write a delivery row unless its dedupe key is stored (on a delivery, or on a
    :class:`PrunedDelivery`): its primary key if this call wrote it, else ``None``.

    One statement. Outside a transaction it is its own durable commit; a duplicate (also
    one racing in from another connection: PostgreSQL waits for the other insert to commit
    or roll back) inserts nothing and raises nothing, so no savepoint is needed inside one.
    ``text``: the payload as JSON text (the verified body), stored without serialising the
    parsed payload again; ``None``: serialise ``values["payload"]``.
    """
    connection = connections[using]
    sql = _insert_sql(connection)
    if sql is None:
        # Other backends: the pruned-key check is a query of its own.
        if PrunedDelivery.objects.using(using).filter(pk=values["dedupe_key"]).exists():
            return None
        delivery = WebhookDelivery(*_row(values))
        try:
            with transaction.atomic(using=using):
                delivery.save(using=using, force_insert=True)
        except IntegrityError:
            if (
                not WebhookDelivery.objects.using(using)
                .filter(dedupe_key=values["dedupe_key"])
                .exists()
            ):
                raise
            return None
        values["received_at"] = delivery.received_at
        return int(delivery.pk)
    params = []
    for f in _insert_fields():
        if f.attname == "payload":
            # JSON text: a jsonb (PostgreSQL) or text (SQLite) column parses or keeps it;
            # what is read back is the parsed payload either way.
            params.append(text if text is not None else json.dumps(values["payload"]))
        elif f.attname == "received_at":
            params.append(f.get_db_prep_save(values["received_at"], connection))
        else:
            params.append(values[f.attname])  # str and int: every driver binds them as-is
    params.append(values["dedupe_key"])  # the NOT EXISTS of pruned keys
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def accept_delivery(
    webhook: Webhook,
    payload: dict[str, Any],
    *,
    own_person_id: str | None = None,
    body: str | None = None,
) -> tuple[WebhookDelivery, bool]:
    """Store a verified, parsed delivery and schedule its dispatch after commit.

    Returns ``(delivery, created)``. ``created`` is ``False`` for a redelivery (same
    :func:`dedupe_key`), which is not dispatched again. The unique constraint decides, also
    between two copies arriving at once: the write is ``INSERT ... ON CONFLICT DO NOTHING``
    (PostgreSQL, SQLite), and the copy that inserted nothing returns the stored row.

    Outside a transaction the INSERT is the delivery's one durable commit. ``sync`` mode then
    dispatches the row written (in memory: no re-read) with ``attempts = 1`` already stored;
    ``celery`` mode enqueues its primary key. ``own_person_id``: the webhook credential's
    person id when the caller knows it (saves a query in the own-event check). ``body``: the
    JSON text ``payload`` was parsed from (the receiver's verified body), stored as it is
    instead of serialising ``payload`` again; it must be that text.
    """
    key = dedupe_key(payload)
    sync = dispatch_mode() == "sync"
    using = router.db_for_write(WebhookDelivery, instance=webhook)
    values = {
        "id": None,
        "webhook_id": webhook.pk,
        "dedupe_key": key,
        "resource": payload["resource"],
        "event": payload["event"],
        "data_id": payload["data"]["id"],
        "actor_id": payload.get("actorId") or "",
        "payload": payload,
        "status": WebhookDelivery.Status.RECEIVED.value,
        "error": "",
        "traceback": "",
        # sync: the dispatch that follows is this delivery's first attempt; written with
        # the row so that counting it costs no extra UPDATE (and no extra commit).
        "attempts": 1 if sync else 0,
        "received_at": timezone.now(),  # what auto_now_add sets
        "processed_at": None,
    }
    pk = _insert(using, values, body)
    if pk is None:
        existing = WebhookDelivery.objects.using(using).filter(dedupe_key=key).order_by().first()
        if existing is None:  # the other copy rolled back meanwhile; nothing to return
            existing = WebhookDelivery(*_row(values))
        return existing, False
    values["id"] = pk
    # The row just written, built the way rows read from the database are (positional
    # values, no keyword handling: this runs per delivery), with the caller's webhook.
    delivery = WebhookDelivery.from_db(using, _attnames(WebhookDelivery), _row(values))
    WebhookDelivery._meta.get_field("webhook").set_cached_value(delivery, webhook)
    if sync:
        callback: Callable[[], Any] = lambda: _process(delivery, own_id=own_person_id)  # noqa: E731
    else:
        callback = lambda: _enqueue(pk)  # noqa: E731
    # robust: a failure here (a broker that is down) is logged and never turns the answer to
    # Webex into a 500; the delivery then stays "received" and can be reprocessed.
    transaction.on_commit(callback, using=using, robust=True)
    return delivery, True


def schedule_dispatch(delivery_id: int) -> None:
    """Dispatch ``delivery_id`` once the current transaction commits (at once outside one).

    ``sync``: :func:`process_delivery` runs in this process. ``celery``: the task
    ``webexteams.process_delivery`` is enqueued with the primary key only. ``robust=True``:
    a failure here (e.g. the broker is down) is logged, and never turns the answer to Webex
    into a 500; the delivery then stays ``received`` and can be reprocessed.
    """
    if dispatch_mode() == "celery":
        callback: Callable[[], Any] = lambda: _enqueue(delivery_id)  # noqa: E731
    else:
        callback = lambda: process_delivery(delivery_id)  # noqa: E731
    transaction.on_commit(callback, robust=True)


def _enqueue(delivery_id: int) -> None:
    from django_webexteams.tasks import process_delivery as task

    queue = conf.get("CELERY_QUEUE")
    options = {"queue": queue} if queue else {}
    task.apply_async(args=(delivery_id,), **options)


# --- dispatch ---------------------------------------------------------------------------------


def own_person_id(
    webhook: Webhook,
    *,
    client: WebexClient | None = None,
    fallback: str | None = None,
    expected: str | None = None,
) -> str | None:
    """The Webex person id of the identity that owns ``webhook`` (the bot, usually).

    A stored credential knows it (``webex_person_id``). For the ``BOT_TOKEN`` it is looked
    up with ``people/me`` and kept in the Django cache under a key naming the API base URL
    and the token (by digest, never the token): the same token is another person at another
    Webex. ``expected`` is what the delivery says (its ``createdBy``, the identity that
    registered the webhook): a cached id that disagrees is checked again with ``people/me``
    (a token reissued to another bot, a restored or shared cache, a fake Webex restarted
    with new ids), and the disagreement itself is remembered so that a webhook registered by
    another identity does not cost a request per delivery. If the lookup fails,
    ``fallback`` (the payload's ``createdBy``) is returned.
    """
    credential = webhook.credential
    if credential is not None and credential.webex_person_id:
        return credential.webex_person_id
    cache = caches["default"]
    key = identity_cache_key(credential)
    person_id = cache.get(key)
    if person_id and (not expected or person_id == expected):
        return str(person_id)
    checked = f"{key}:vs:{hashlib.sha256(expected.encode()).hexdigest()[:16]}" if expected else ""
    if person_id and checked and cache.get(checked) == person_id:
        return str(person_id)  # already checked again: the webhook's registrant is another
    try:
        me = (client or client_for(credential)).people.me()
    except Exception:
        if person_id:  # could not check again: the cached id still counts (with createdBy)
            logger.warning("people/me failed for %r; keeping the cached person id", webhook)
            return str(person_id)
        if fallback is None:
            raise
        logger.warning("people/me failed for %r; using the webhook's createdBy", webhook)
        return fallback
    if person_id and person_id != me.id:
        logger.warning("The cached person id of %r was stale; it is now %s", webhook, me.id)
    cache.set(key, me.id, IDENTITY_CACHE_SECONDS)
    if checked and me.id != expected:
        cache.set(checked, me.id, IDENTITY_CACHE_SECONDS)
    return str(me.id)


def _is_own_event(event: WebhookEvent, webhook: Webhook, own_id: str | None = None) -> bool:
    """Whether ``event`` was caused by ``webhook``'s own identity (``own_id`` when known).

    First from facts in the delivery itself, which cannot go stale: ``createdBy`` is the
    identity that registered the webhook at Webex (the token's owner: the bot, for webhooks
    made by :func:`register_webhook`), so an event whose ``actorId`` is ``createdBy`` is the
    bot's own (https://developer.webex.com/docs/webhooks, "Webhook payload"). Then from the
    credential's person id (stored, or ``people/me`` cached and checked against
    ``createdBy``). A wrong answer here makes a bot that answers messages answer itself.
    """
    actor = event.actor_id
    if not actor:
        return False
    if event.created_by and actor == event.created_by:
        return True
    if own_id is None:
        own_id = own_person_id(
            webhook, fallback=event.created_by or "", expected=event.created_by or None
        )
    return actor == own_id


def _receiver_name(receiver: Any) -> str:
    module = getattr(receiver, "__module__", "?")
    name = getattr(receiver, "__qualname__", None) or repr(receiver)
    return f"{module}.{name}"


def process_delivery(delivery_id: int, *, force: bool = False) -> WebhookDelivery | None:
    """Send the signals for a stored delivery and record the outcome.

    ``webhook_received`` first, then the specific signal from ``signals.EVENT_SIGNALS``,
    with ``sender=Webhook`` and kwargs ``event``, ``webhook``, ``delivery``. Receivers run
    through ``send_robust``: one that raises does not stop the others; the delivery is then
    ``failed`` with every error and traceback, else ``processed``. An event whose actor is
    the webhook's own identity is ``ignored`` (not dispatched) unless
    ``WEBHOOK_DISPATCH_OWN_EVENTS``. A delivery already ``processed`` or ``ignored`` is left
    alone unless ``force``. Returns the delivery (``None`` if the row is gone).
    """
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "webhook__credential")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        logger.warning("Webhook delivery %s no longer exists", delivery_id)
        return None
    done = (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED)
    if delivery.status in done and not force:
        return delivery
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    delivery.attempts += 1
    return _process(delivery, durable=True)


def _process(
    delivery: WebhookDelivery, *, own_id: str | None = None, durable: bool = False
) -> WebhookDelivery:
    """Dispatch a loaded ``delivery`` and record the outcome (see :func:`process_delivery`).

    ``durable=False`` (the receiver's sync path) hands a "processed" or "ignored" outcome to
    the batch writer (PostgreSQL, autocommit; see :mod:`django_webexteams.outcomes`) or, with
    ``WEBHOOK_OUTCOME_BATCH_SECONDS = 0``, writes it without waiting for its WAL flush; a
    "failed" one is always written at once and durably.
    """
    failures: list[tuple[Any, BaseException]] = []
    try:
        status = _dispatch(delivery, failures, own_id=own_id)
    except Exception as exc:  # our own bug or a setting: record it, never leave it "received"
        logger.exception("Dispatching webhook delivery %s failed", delivery.pk)
        failures.append((process_delivery, exc))
        status = WebhookDelivery.Status.FAILED
    if failures:
        error = "\n".join(f"{_receiver_name(r)}: {type(e).__name__}: {e}" for r, e in failures)
        tb = "\n".join("".join(traceback.format_exception(e)) for _, e in failures)
        logger.warning("Webhook delivery %s failed in %d receiver(s)", delivery.pk, len(failures))
        return _finish(delivery, WebhookDelivery.Status.FAILED, error=error, tb=tb)
    return _finish(delivery, status, durable=durable)


def _dispatch(
    delivery: WebhookDelivery,
    failures: list[tuple[Any, BaseException]],
    *,
    own_id: str | None = None,
) -> str:
    """Send the signals for ``delivery``, collecting receivers' exceptions in ``failures``;
    returns the status to record."""
    webhook = delivery.webhook
    event = WebhookEvent.from_payload(delivery.payload, webhook=webhook)
    if not conf.get("WEBHOOK_DISPATCH_OWN_EVENTS") and _is_own_event(event, webhook, own_id):
        return WebhookDelivery.Status.IGNORED
    specific = signals.EVENT_SIGNALS.get((event.resource, event.event))
    # While receivers run, send_message knows which event it answers (its loop breaker).
    token = _DISPATCHING.set((event, webhook))
    try:
        for signal in (signals.webhook_received, specific):
            if signal is None:
                continue
            responses = signal.send_robust(
                sender=Webhook, event=event, webhook=webhook, delivery=delivery
            )
            failures.extend((r, res) for r, res in responses if isinstance(res, BaseException))
    finally:
        _DISPATCHING.reset(token)
    return WebhookDelivery.Status.FAILED if failures else WebhookDelivery.Status.PROCESSED


def _finish(
    delivery: WebhookDelivery,
    status: str,
    *,
    error: str = "",
    tb: str = "",
    durable: bool = True,
) -> WebhookDelivery:
    delivery.status = status
    delivery.error = error
    delivery.traceback = tb
    delivery.processed_at = timezone.now()
    using = delivery._state.db or router.db_for_write(WebhookDelivery, instance=delivery)
    connection = connections[using]
    interval = 0.0 if durable or error else outcomes.batch_interval(connection)
    if interval:
        # A success outcome of the receiver's sync path: written by this process's batch
        # writer within WEBHOOK_OUTCOME_BATCH_SECONDS, with many others in one statement and
        # one commit (django_webexteams/outcomes.py says what that trades).
        outcomes.defer(using, delivery.pk, status, delivery.processed_at, interval)
        return delivery
    if (
        not durable
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    ):
        # Trade-off (docs/webhooks.md, "Performance and its trade-offs"): the delivery row
        # is already durable; only this outcome skips the WAL flush wait. It is visible to
        # every other session at once; a server crash within ~3 x wal_writer_delay may lose
        # it, leaving the row "received" (attempts 1), which `webexteams_deliveries
        # reprocess --status received` dispatches again. SET LOCAL applies to this
        # statement's implicit transaction only (two statements in one simple query run as
        # one transaction; client-side binding, Django's default for psycopg, allows that).
        qn = connection.ops.quote_name
        table = qn(WebhookDelivery._meta.db_table)
        field = WebhookDelivery._meta.get_field("processed_at")
        # Identifiers from the model's metadata, quoted; every value is bound.
        sql = (
            f"SET LOCAL synchronous_commit TO OFF; UPDATE {table} SET {qn('status')} = %s, "  # noqa: S608
            f"{qn('error')} = %s, {qn('traceback')} = %s, {qn('processed_at')} = %s "
            f"WHERE {qn('id')} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                [
                    status,
                    error,
                    tb,
                    field.get_db_prep_save(delivery.processed_at, connection),
                    delivery.pk,
                ],
            )
        return delivery
    delivery.save(update_fields=["status", "error", "traceback", "processed_at"])
    return delivery


def flush_outcomes() -> int:
    """Write the dispatch outcomes this process has not written yet (sync mode, PostgreSQL,
    outside a transaction: see ``WEBHOOK_OUTCOME_BATCH_SECONDS``); returns how many.

    A background thread does it within the batch interval. Call it where a delivery's
    final status must be read at once after a live request, e.g. in a test.
    """
    return outcomes.flush()


def reprocess_delivery(delivery: WebhookDelivery, *, sync: bool | None = None) -> None:
    """Dispatch ``delivery`` again (an admin action and ``webexteams_deliveries reprocess``).

    Receivers see it again, so they should be idempotent. ``sync=None`` follows
    ``WEBHOOK_DISPATCH``; ``True`` runs it now in this process, ``False`` enqueues the task.
    """
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.RECEIVED, error="", traceback=""
    )
    if sync is None:
        sync = dispatch_mode() == "sync"
    if sync:
        transaction.on_commit(lambda: process_delivery(delivery.pk), robust=True)
    else:
        transaction.on_commit(lambda: _enqueue(delivery.pk), robust=True)


# --- retention --------------------------------------------------------------------------------


#: Deliveries deleted (and keys kept) per transaction by :func:`prune_deliveries`.
_PRUNE_BATCH = 1000


def prune_deliveries(days: int | None = None, *, dry_run: bool = False) -> int:
    """Delete deliveries received more than ``days`` (default ``DELIVERY_RETENTION_DAYS``)
    days ago; returns how many (would be) deleted. ``days <= 0`` is refused.

    Security: each deleted delivery's dedupe key is kept as a :class:`PrunedDelivery` (in
    the same transaction), so a captured body replayed after the prune is still a
    duplicate: Webex signs no timestamp, a signature never expires."""
    if days is None:
        days = int(conf.get("DELIVERY_RETENTION_DAYS"))
    if days <= 0:
        raise ValueError("days must be a positive number of days")
    cutoff = timezone.now() - timedelta(days=days)
    old = WebhookDelivery.objects.filter(received_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(old.order_by().values_list("pk", "dedupe_key")[:_PRUNE_BATCH])
            if not batch:
                return deleted
            PrunedDelivery.objects.bulk_create(
                [PrunedDelivery(dedupe_key=key) for _pk, key in batch], ignore_conflicts=True
            )
            count, _ = WebhookDelivery.objects.filter(pk__in=[pk for pk, _key in batch]).delete()
            deleted += count
