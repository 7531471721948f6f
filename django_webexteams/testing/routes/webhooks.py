"""/webhooks: registrations owned by the token's person (or the org, for admins)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..delivery import unsupported_filter_keys
from ..errors import bad_request, forbidden, not_found
from ..ids import make_id
from ..pagination import paginate
from ..state import Webhook
from . import router
from .base import Ctx, items, no_content, ok, str_field

RESOURCES = {
    "all",
    "attachmentActions",
    "dataSources",
    "memberships",
    "messages",
    "rooms",
    "meetings",
    "recordings",
    "convergedRecordings",
    "meetingParticipants",
    "meetingTranscripts",
    "telephony_calls",
    "telephony_conference",
    "telephony_mwi",
    "uc_counters",
    "serviceApp",
    "adminBatchJobs",
}
EVENTS = {
    "all",
    "created",
    "updated",
    "deleted",
    "started",
    "ended",
    "joined",
    "left",
    "migrated",
    "authorized",
    "deauthorized",
    "statusChanged",
}


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request("targetUrl must be an absolute http(s) URL.")


def _sees(ctx: Ctx, hook: Webhook) -> bool:
    # Its creator, and the administrators of its organization for an org-wide webhook.
    return hook.created_by == ctx.me.id or (
        hook.owned_by == "org" and ctx.me.is_admin and hook.org_id == ctx.me.org_id
    )


def _visible(ctx: Ctx, webhook_id: str) -> Webhook:
    hook = ctx.state.webhooks.get(webhook_id)
    if hook is None or not _sees(ctx, hook):
        raise not_found("Could not find a webhook with provided ID.")
    return hook


@router.route("GET", "/webhooks")
def list_webhooks(ctx: Ctx) -> Any:
    owned_by = ctx.req.arg("ownedBy")
    hooks = [h for h in sorted(ctx.state.webhooks.values(), key=lambda h: h.seq) if _sees(ctx, h)]
    if owned_by:
        hooks = [h for h in hooks if h.owned_by == owned_by]
    page, headers = paginate(
        ctx.req,
        hooks,
        key=lambda h: h.id,
        default=100,
        limit=100,
        quirks=ctx.fake.faults.quirks,
    )
    return items([h.to_json() for h in page], headers)


@router.route("POST", "/webhooks")
def create_webhook(ctx: Ctx) -> Any:
    data = ctx.body()
    name = str_field(data, "name", required=True)
    target_url = str_field(data, "targetUrl", required=True)
    resource = str_field(data, "resource", required=True)
    event = str_field(data, "event", required=True)
    assert name and target_url and resource and event
    _check_url(target_url)
    if resource not in RESOURCES:
        raise bad_request(f"Unsupported resource: {resource}")
    if event not in EVENTS:
        raise bad_request(f"Unsupported event: {event}")
    owned_by = str_field(data, "ownedBy") or "creator"
    if owned_by not in ("creator", "org"):
        raise bad_request("ownedBy must be creator or org.")
    if owned_by == "org" and not ctx.me.is_admin:
        raise forbidden("Only administrators may create organization-wide webhooks.")
    filter = str_field(data, "filter")
    if filter:
        bad = unsupported_filter_keys(resource, filter)
        if bad:
            raise bad_request(f"Invalid value for filter: {bad[0]} is not a {resource} filter.")
    hook = Webhook(
        id=make_id("WEBHOOK"),
        name=name,
        target_url=target_url,
        resource=resource,
        event=event,
        created_by=ctx.me.id,
        org_id=ctx.me.org_id,
        app_id=ctx.state.app_id,
        created=ctx.state.clock.now(),
        filter=filter,
        secret=str_field(data, "secret"),
        owned_by=owned_by,
    )
    ctx.state.webhooks[hook.id] = hook
    return ok(hook.to_json())


@router.route("GET", "/webhooks/{id}")
def get_webhook(ctx: Ctx) -> Any:
    return ok(_visible(ctx, ctx.params["id"]).to_json())


@router.route("PUT", "/webhooks/{id}")
def update_webhook(ctx: Ctx) -> Any:
    hook = _visible(ctx, ctx.params["id"])
    data = ctx.body()
    # Only name, targetUrl, secret, ownedBy and status can change (Webex docs).
    name = str_field(data, "name", required=True)
    target_url = str_field(data, "targetUrl", required=True)
    assert name and target_url
    _check_url(target_url)
    status = str_field(data, "status")
    if status is not None and status not in ("active", "inactive"):
        raise bad_request("status must be active or inactive.")
    hook.name, hook.target_url = name, target_url
    if "secret" in data:
        hook.secret = str_field(data, "secret")
    owned_by = str_field(data, "ownedBy")
    if owned_by:
        if owned_by == "org" and not ctx.me.is_admin:
            raise forbidden("Only administrators may create organization-wide webhooks.")
        hook.owned_by = owned_by
    if status is not None:
        if status == "active" and hook.status != "active":
            # Reactivation forgets past failures, otherwise it would trip again at once.
            hook.failures.clear()
        hook.status = status
    return ok(hook.to_json())


@router.route("DELETE", "/webhooks/{id}")
def delete_webhook(ctx: Ctx) -> Any:
    hook = _visible(ctx, ctx.params["id"])
    del ctx.state.webhooks[hook.id]
    return no_content()
