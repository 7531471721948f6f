"""Celery tasks of django-webexteams.

Tasks are short shims over the service modules: they take primary keys, never tokens, and
have explicit names ``webexteams.<verb_noun>``. Each feature keeps its tasks in its own
section below.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

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


# (other features add their tasks in sections below)


# --- webhooks: dispatch deliveries, watch webhook health (docs/webhooks.md) -------------------
@shared_task(name="webexteams.process_delivery", ignore_result=True)
def process_delivery(delivery_id: int) -> str | None:
    """Send the signals for the stored ``WebhookDelivery`` ``delivery_id`` (enqueued on commit
    by the receiver when ``WEBHOOK_DISPATCH = "celery"``). A receiver that raises marks the
    delivery failed; the task itself does not retry (reprocess with the admin action or
    ``manage.py webexteams_deliveries reprocess``). Returns the delivery's status."""
    from django_webexteams import webhooks

    delivery = webhooks.process_delivery(delivery_id)
    return delivery.status if delivery is not None else None


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


# --- sending: deliver outbox rows (docs/sending.md) -------------------------------------------
# acks_late + reject_on_worker_lost: the broker keeps the task message until the task has
# finished, so a worker killed mid-send (SIGKILL, OOM) leaves it to be delivered again; the
# row's lease (messaging.lease_seconds) keeps the redelivered copy from posting concurrently.
# max_retries=None: messaging.deliver bounds real failures itself (SEND_MAX_ATTEMPTS); waits
# for Retry-After, the shared gate or a lease are not failures and must not use up retries.
@shared_task(
    bind=True,
    name="webexteams.deliver_message",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    ignore_result=True,
)
def deliver_message(
    self: Any,
    pk: int,
    reconcile_since: str | None = None,
    failures: int = 0,
    ticket: str | None = None,
) -> str:
    """Deliver the ``OutboundMessage`` ``pk`` (its primary key only: no token or text in the
    broker; ``ticket`` is the wake-up slot time adaptive pacing gave it). Waiting is a Celery
    countdown, never ``sleep``. Returns the outcome."""
    from django_webexteams import conf, messaging

    result = messaging.deliver(
        pk, reconcile_since=reconcile_since, failures=failures, ticket=ticket
    )
    if result.outcome == "retry":
        logger.info("Outbound message %s: retry in %.1fs (%s)", pk, result.countdown,
                    result.reason)  # fmt: skip
        if self.request.is_eager:
            # CELERY_TASK_ALWAYS_EAGER (tests, the docs): an eager retry would run again at
            # once, ignoring the countdown, and spin while the gate is closed. Leave the row
            # queued instead (webexteams_outbox retry --stuck re-enqueues it).
            return result.outcome
        queue = conf.get("CELERY_QUEUE")
        raise self.retry(
            args=(pk,),
            kwargs=result.retry_kwargs,
            countdown=result.countdown,
            max_retries=None,
            **({"queue": str(queue)} if queue else {}),
        )
    return result.outcome


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
