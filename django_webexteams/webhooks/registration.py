"""Webhook registrations at Webex: register, list, delete, reactivate, rotate the secret, sync.

Each function changes the registration at Webex and the local :class:`Webhook` row together.
See docs/webhooks.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from django_webexteams import conf
from django_webexteams.clients import client_for
from django_webexteams.models import Credential, Webhook
from django_webexteams.webhooks.own_events import own_person_id

if TYPE_CHECKING:
    from django_webexteams.client import WebexClient

__all__ = [
    "SyncResult",
    "delete_webhook",
    "list_remote_webhooks",
    "reactivate_webhook",
    "register_webhook",
    "rotate_secret",
    "sync_webhooks",
    "target_url_for",
]

# The name this logger had before the package split: LOGGING settings name it.
logger = logging.getLogger("django_webexteams.webhooks")


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
