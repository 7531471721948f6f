"""Sending messages through the outbox.

One module per step (docs/architecture.md has the map):

- ``outbox``: :func:`send_message` and :func:`send_template` check their arguments
  (``files`` the file, ``errors`` the exceptions) and write an ``OutboundMessage`` row in the
  caller's transaction;
- ``queue``: the row's delivery is enqueued on commit as the Celery task
  ``webexteams.deliver_message``; :func:`resend` and :func:`requeue_stuck`;
- ``delivery``: the task's state machine (claim under a lease, post, retry or fail, signal),
  with ``countdown`` (how long to wait), ``reconcile`` (was an uncertain attempt posted?) and
  ``ratelimit`` (the rate-limit gate and adaptive pacing shared by all workers).

This module hands on the public names (``from django_webexteams.messaging import
send_message``); the modules of the package never import it, only each other.
"""

from __future__ import annotations

from django_webexteams.messaging.countdown import lease_seconds
from django_webexteams.messaging.delivery import DeliveryResult, deliver
from django_webexteams.messaging.errors import InvalidMessageError, StoredFileError
from django_webexteams.messaging.files import MAX_FILE_BYTES
from django_webexteams.messaging.outbox import MAX_MESSAGE_BYTES, send_message, send_template
from django_webexteams.messaging.queue import enqueue_delivery, requeue_stuck, resend

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
