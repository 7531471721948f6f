"""Webhooks: registration at Webex, receiving deliveries, dispatch to Django signals.

One module per step (docs/architecture.md has the map):

- ``registration`` registers, deletes, reactivates, rotates and syncs webhooks at Webex;
  ``health`` reads their status there (``check_webhooks``).
- ``receive`` is the view Webex posts to: ``lookup`` finds the registration of the URL's
  uuid, the view checks the signature, ``payload`` parses the body, ``store`` inserts the
  delivery (a redelivery inserts nothing) and prunes old ones.
- ``queue`` decides when a stored delivery is dispatched (in this process after commit, or by
  the Celery task ``webexteams.process_delivery``); ``dispatch`` sends the signals and records
  the outcome (``outcomes`` batches that write in sync mode); ``own_events`` recognises
  events the bot caused itself.

This module hands on the public names (``from django_webexteams.webhooks import
register_webhook``); the modules of the package never import it, only each other.
"""

from __future__ import annotations

from django_webexteams.webhooks.dispatch import flush_outcomes, process_delivery
from django_webexteams.webhooks.health import CheckResult, check_webhooks
from django_webexteams.webhooks.lookup import (
    Registration,
    active_registration,
    forget_registrations,
    lookup_registration,
)
from django_webexteams.webhooks.own_events import own_person_id
from django_webexteams.webhooks.payload import InvalidPayloadError, dedupe_key, parse_payload
from django_webexteams.webhooks.queue import dispatch_mode, reprocess_delivery, schedule_dispatch
from django_webexteams.webhooks.registration import (
    SyncResult,
    delete_webhook,
    list_remote_webhooks,
    reactivate_webhook,
    register_webhook,
    rotate_secret,
    sync_webhooks,
    target_url_for,
)
from django_webexteams.webhooks.store import accept_delivery, prune_deliveries

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
    "schedule_dispatch",
    "sync_webhooks",
    "target_url_for",
]
