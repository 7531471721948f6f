"""``/attachment/actions`` (adaptive card submissions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import AttachmentAction
from ._base import ExtraBody, ExtraParams, Resource, seg


class AttachmentActionsResource(Resource):
    def get(self, action_id: str, *, extra_params: ExtraParams | None = None) -> AttachmentAction:
        """``GET /attachment/actions/{id}``: the card inputs (webhook deliveries only carry
        the id)."""
        return self._get(
            AttachmentAction, f"/attachment/actions/{seg(action_id)}", None, extra_params
        )

    def create(
        self,
        *,
        message_id: str,
        inputs: Mapping[str, Any],
        type: str = "submit",
        extra_params: ExtraParams | None = None,
        extra_body: ExtraBody | None = None,
    ) -> AttachmentAction:
        """``POST /attachment/actions``. (The spec lists 202; the service answers 200.)"""
        return self._post(
            AttachmentAction,
            "/attachment/actions",
            {
                "type": type,
                "messageId": message_id,
                "inputs": dict(inputs),
            },
            extra_params=extra_params,
            extra_body=extra_body,
        )
