"""Celery tasks of django-webexteams: the entry points that Celery beat and the admin call.

Tasks are short shims over the features: they take primary keys, never tokens, and have
explicit names ``webexteams.<verb_noun>``. Nothing in a feature imports this module. The two
tasks a feature enqueues itself live next to the code that enqueues them and are re-exported
here, so that Celery's autodiscovery (which imports ``django_webexteams.tasks``) registers
every task: ``webexteams.deliver_message`` (:mod:`django_webexteams.messaging.queue`) and
``webexteams.process_delivery`` (:mod:`django_webexteams.webhooks.queue`).
"""

from __future__ import annotations

import logging

from celery import shared_task

from django_webexteams.messaging.queue import deliver_message
from django_webexteams.webhooks.queue import process_delivery_task as process_delivery

__all__ = [
    "check_webhook",
    "check_webhooks",
    "deliver_message",
    "process_delivery",
    "prune_deliveries",
    "refresh_credential",
    "refresh_credentials",
    "requeue_stuck_messages",
]

logger = logging.getLogger(__name__)


# --- OAuth: keep user tokens fresh (docs/oauth.md) -------------------------------------------
@shared_task(name="webexteams.refresh_credentials", ignore_result=True)
def refresh_credentials(within: float = 86400.0) -> dict[str, int]:
    """Refresh active user credentials whose access token expires within ``within`` seconds
    (default one day), or whose refresh token does.

    Run it from Celery beat (docs/oauth.md has the schedule). Each credential is refreshed
    under its row lock (``tokens.refresh_credential``), so a beat run and a request that
    refreshes the same credential at the same moment spend its refresh token once. One
    failing credential does not stop the others. Returns counts per outcome.
    """
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from django_webexteams import tokens
    from django_webexteams.models import Credential

    horizon = timezone.now() + timedelta(seconds=max(0.0, float(within)))
    # Only the primary keys: each credential is re-read under its lock by refresh_credential.
    pks = list(
        Credential.objects.filter(kind=Credential.Kind.USER, is_active=True)
        .filter(Q(expires_at__lte=horizon) | Q(refresh_expires_at__lte=horizon))
        .values_list("pk", flat=True)
    )
    counts = {"refreshed": 0, "revoked": 0, "failed": 0, "skipped": 0}
    for pk in pks:
        credential = Credential.objects.filter(pk=pk).first()
        if credential is None:
            counts["skipped"] += 1
            continue
        try:
            # force: the query above already decided this one is due (it may be due because
            # of its refresh token, which needs_refresh() does not look at).
            outcome = tokens.refresh_credential(credential, force=True)
        except Exception:  # e.g. an undecryptable row: report it, carry on with the rest
            logger.exception("Refreshing Webex credential %s failed", pk)
            outcome = "failed"
        counts[outcome or "skipped"] += 1
    return counts


# --- webhooks: watch webhook health, retention (docs/webhooks.md) ----------------------------
# (webexteams.process_delivery: django_webexteams.webhooks.queue)
@shared_task(name="webexteams.check_webhooks", ignore_result=True)
def check_webhooks() -> dict[str, int]:
    """Read every registered webhook's status at Webex (run it from Celery beat; the schedule
    is in docs/webhooks.md). Disabled ones send ``webhook_disabled`` and are reactivated when
    ``WEBHOOK_AUTO_REACTIVATE`` is on. Returns counts per outcome."""
    from django_webexteams import webhooks

    result = webhooks.check_webhooks()
    return {
        "active": len(result.active),
        "disabled": len(result.disabled),
        "reactivated": len(result.reactivated),
        "missing": len(result.missing),
        "errors": len(result.errors),
    }


@shared_task(name="webexteams.prune_deliveries", ignore_result=True)
def prune_deliveries() -> int:
    """Delete webhook deliveries older than ``DELIVERY_RETENTION_DAYS``; returns how many."""
    from django_webexteams import webhooks

    return webhooks.prune_deliveries()


# (webexteams.deliver_message, sending: django_webexteams.messaging.queue)


# --- admin: long bulk actions (docs/admin.md) ------------------------------------------------
@shared_task(name="webexteams.refresh_credential", ignore_result=True)
def refresh_credential(pk: int) -> str | None:
    """Refresh the OAuth tokens of ``Credential`` ``pk`` now (the admin action "Refresh now"
    with ``ADMIN_TASKS = "celery"``). Returns the outcome of ``tokens.refresh_credential``."""
    from django_webexteams import tokens
    from django_webexteams.models import Credential

    credential = Credential.objects.filter(pk=pk).first()
    if credential is None:
        return None
    return tokens.refresh_credential(credential, force=True)


@shared_task(name="webexteams.check_webhook", ignore_result=True)
def check_webhook(pk: int) -> str | None:
    """Read ``Webhook`` ``pk`` at Webex and record its status (the admin action "Check status
    at Webex" with ``ADMIN_TASKS = "celery"``). Returns the stored status."""
    from django_webexteams import webhooks
    from django_webexteams.models import Webhook

    webhook = Webhook.objects.filter(pk=pk).exclude(webex_id=None).first()
    if webhook is None:
        return None
    webhooks.check_webhooks([webhook])
    return webhook.status


@shared_task(name="webexteams.requeue_stuck_messages", ignore_result=True)
def requeue_stuck_messages(older_than_minutes: float = 15.0) -> int:
    """Re-enqueue outbox rows ``queued``/``sending`` that nothing touched for
    ``older_than_minutes`` (their task was lost: a broker flush, an enqueue that failed after
    commit, a killed worker whose task the broker only returns after its visibility timeout).
    Run it from Celery beat; keep the age above ``MAX_COUNTDOWN`` plus the send lease so that
    rows merely waiting for a retry are left alone (an extra task would be harmless anyway).
    Returns how many were enqueued."""
    from datetime import timedelta

    from django_webexteams import messaging

    return messaging.requeue_stuck(timedelta(minutes=float(older_than_minutes)))
