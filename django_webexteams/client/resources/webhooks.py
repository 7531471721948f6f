"""``/webhooks``."""

from __future__ import annotations

from typing import Literal

from ..models import Webhook
from ..pagination import PaginatedList
from ._base import ExtraBody, ExtraParams, Resource, body, seg


class WebhooksResource(Resource):
    def list(
        self,
        *,
        owned_by: str | None = None,
        max: int | None = None,
        extra_params: ExtraParams | None = None,
    ) -> PaginatedList[Webhook]:
        """``GET /webhooks``."""
        return self._list(Webhook, "/webhooks", {"ownedBy": owned_by, "max": max}, extra_params)

    def create(
        self,
        name: str,
        target_url: str,
        resource: str,
        event: str,
        filter: str | None = None,
        secret: str | None = None,
        owned_by: str | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Webhook:
        """``POST /webhooks``. ``secret`` makes Webex sign deliveries (``X-Spark-Signature``);
        ``filter`` is a query-string-like ``roomId=...&personEmail=...``."""
        return self._post(
            Webhook,
            "/webhooks",
            body(
                name=name,
                targetUrl=target_url,
                resource=resource,
                event=event,
                filter=filter,
                secret=secret,
                ownedBy=owned_by,
            ),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def get(self, webhook_id: str, *, extra_params: ExtraParams | None = None) -> Webhook:
        """``GET /webhooks/{webhookId}``."""
        return self._get(Webhook, f"/webhooks/{seg(webhook_id)}", None, extra_params)

    def update(
        self,
        webhook_id: str,
        name: str,
        target_url: str,
        secret: str | None = None,
        owned_by: str | None = None,
        status: Literal["active", "inactive"] | None = None,
        *,
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> Webhook:
        """``PUT /webhooks/{webhookId}``: only name, target URL, secret, owner and status can
        change; ``status="active"`` reactivates a webhook Webex disabled."""
        return self._put(
            Webhook,
            f"/webhooks/{seg(webhook_id)}",
            body(
                name=name,
                targetUrl=target_url,
                secret=secret,
                ownedBy=owned_by,
                status=status,
            ),
            extra_params=extra_params,
            extra_body=extra_body,
        )

    def delete(self, webhook_id: str, *, extra_params: ExtraParams | None = None) -> str | None:
        """``DELETE /webhooks/{webhookId}``; returns the tracking id."""
        return self._delete(f"/webhooks/{seg(webhook_id)}", extra_params)
