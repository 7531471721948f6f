"""Webhook health: read each registration's status at Webex, report and reactivate disabled ones
(``check_webhooks``, run from Celery beat as ``webexteams.check_webhooks``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils import timezone

from django_webexteams import conf, signals
from django_webexteams.clients import client_for
from django_webexteams.models import Webhook
from django_webexteams.webhooks.registration import reactivate_webhook

__all__ = [
    "CheckResult",
    "check_webhooks",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.webhooks")


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
