"""Finding the registration of a webhook URL's uuid: a per-process cache of what the receiver
needs (secret decrypted, in this process's memory only), emptied when a :class:`Webhook` changes.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import Any

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


def forget_registrations(*_: Any, **__: Any) -> None:
    """Empty this process's registration cache (connected to ``Webhook`` saves and deletes,
    so a change made in this process applies at once; other processes see it within
    ``WEBHOOK_CACHE_SECONDS``)."""
    with _REGISTRATIONS_LOCK:
        _REGISTRATIONS.clear()


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
    if not fresh and ttl > 0:
        cached = _REGISTRATIONS.get(uuid)
        if cached is not None and now - cached.loaded_at < ttl:
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
    registration = Registration(
        pk=named["id"],
        webex_id=named["webex_id"],
        secret=named["secret"] or "",
        credential_id=named["credential_id"],
        own_person_id=found[0][-1] or None,
        values=values,
        loaded_at=now,
        using=using,
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
