"""Finding the registration of a webhook URL's uuid: a per-process cache of what the receiver
needs (secret decrypted, in this process's memory only), emptied when a :class:`Webhook` changes.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.db import router
from django.db.models.signals import post_delete, post_save

from django_webexteams import conf
from django_webexteams.models import Webhook

__all__ = [
    "Registration",
    "active_registration",
    "forget_registrations",
    "lookup_registration",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.webhooks")


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
