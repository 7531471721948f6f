"""/attachment/actions: card submissions. The webhook carries ids only; inputs must be read
with GET, by the card's sender or the submitter."""

from __future__ import annotations

from typing import Any

from ..errors import bad_request, missing, not_found
from ..ids import make_id
from ..state import AttachmentAction
from . import router
from .base import Ctx, ok, str_field


@router.route("POST", "/attachment/actions")
def create_action(ctx: Ctx) -> Any:
    data = ctx.body()
    action_type = str_field(data, "type", required=True)
    message_id = str_field(data, "messageId", required=True)
    inputs = data.get("inputs")
    if inputs is None:
        raise missing("inputs")
    if not isinstance(inputs, dict):
        raise bad_request("Invalid value for inputs: expected an object")
    if action_type != "submit":
        raise bad_request("type must be submit.")
    assert message_id is not None
    msg = ctx.state.messages.get(message_id)
    if msg is None or ctx.state.membership_of(ctx.me.id, msg.room_id) is None:
        raise not_found("Could not find a message with provided ID.")
    if not msg.attachments:
        raise bad_request("The message has no card to submit.")
    action = AttachmentAction(
        id=make_id("ATTACHMENT_ACTION"),
        type="submit",
        message_id=msg.id,
        inputs=inputs,
        person_id=ctx.me.id,
        room_id=msg.room_id,
        created=ctx.state.clock.now(),
    )
    ctx.state.attachment_actions[action.id] = action
    full = action.to_json()
    # The spec says 202; the service answers 200 (see webex-openapi/SOURCE.md).
    ctx.emit(
        "attachmentActions",
        "created",
        full,
        hook_data={k: v for k, v in full.items() if k != "inputs"},
        owner_ids=[msg.person_id, ctx.me.id],
    )
    return ok(full)


@router.route("GET", "/attachment/actions/{id}")
def get_action(ctx: Ctx) -> Any:
    action = ctx.state.attachment_actions.get(ctx.params["id"])
    msg = ctx.state.messages.get(action.message_id) if action else None
    if action is None or ctx.me.id not in (action.person_id, msg.person_id if msg else None):
        raise not_found("Could not find an attachment action with provided ID.")
    return ok(action.to_json())
