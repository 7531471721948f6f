"""The HTTP side of the websocket ("Mercury") path, served outside /v1 as at Webex:

- U2C discovery: ``GET /u2c/api/v1/catalog?format=hostmap`` names the device service (wdm);
- WDM devices: list, register, read and delete the caller's devices (``webSocketUrl``);
- the conversation service's id look-ups: a websocket activity's uuid to the REST id.

Not the public API (no OpenAPI spec): experimental, like the path itself. The socket is in
``testing/mercury.py``. Every route needs the bearer token; a device belongs to the person
whose token registered it, and others get 404 for it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import bad_request, not_found
from ..ids import iso, make_id
from ..state import Device
from . import router
from .base import Ctx, no_content, ok
from .messages import _visible as visible_message

if TYPE_CHECKING:
    from ..fake import FakeWebex

WDM = "/wdm/api/v1"
CONVERSATION = "/conversation/api/v1"
DEVICE_FIELDS = {
    "deviceName": "device_name",
    "deviceType": "device_type",
    "localizedModel": "localized_model",
    "model": "model",
    "name": "name",
    "systemName": "system_name",
    "systemVersion": "system_version",
}


def _root(ctx: Ctx) -> str:
    """The server's root URL as the caller reached it (``http://host:port``)."""
    return ctx.req.base_url[: -len("/v1")]


def device_json(ctx: Ctx, device: Device) -> dict[str, Any]:
    host = urlsplit(ctx.req.base_url).hostname or ctx.fake.host
    return render_device(ctx.fake, device, _root(ctx), host)


def render_device(fake: FakeWebex, device: Device, root: str, host: str) -> dict[str, Any]:
    """A device as WDM shows it; ``root``/``host``: how the client reaches the fake."""
    out: dict[str, Any] = {
        "url": f"{root}{WDM}/devices/{device.uuid}",
        "webSocketUrl": fake.mercury.ws_url(host, device.uuid),
    }
    for key, attr in DEVICE_FIELDS.items():
        out[key] = getattr(device, attr)
    out["creationTime"] = iso(device.created)
    out["modificationTime"] = iso(device.modified)
    return out


@router.route("GET", "/u2c/api/v1/catalog", root=True, spec_path="")
def catalog(ctx: Ctx) -> Any:
    root = _root(ctx)
    host = urlsplit(root).netloc
    links = {
        "wdm": f"{root}{WDM}",
        "conversation": f"{root}{CONVERSATION}",
        "hydra": ctx.req.base_url,
    }
    return ok(
        {
            "serviceLinks": links,
            "serviceHostMap": {
                "serviceLinks": links,
                "hostCatalog": {host: [{"host": host, "ttl": -1, "priority": 1, "id": "fake"}]},
            },
        }
    )


def _mine(ctx: Ctx, device_uuid: str) -> Device:
    device = ctx.state.devices.get(device_uuid)
    if device is None or device.stale or device.person_id != ctx.me.id:
        raise not_found("Device not found.")
    return device


@router.route("GET", f"{WDM}/devices", root=True, spec_path="")
def list_devices(ctx: Ctx) -> Any:
    devices = sorted(
        (d for d in ctx.state.devices.values() if d.person_id == ctx.me.id and not d.stale),
        key=lambda d: d.seq,
    )
    return ok({"devices": [device_json(ctx, d) for d in devices]})


@router.route("POST", f"{WDM}/devices", root=True, spec_path="")
def register_device(ctx: Ctx) -> Any:
    data = ctx.body()
    values: dict[str, str] = {}
    for key, attr in DEVICE_FIELDS.items():
        value = data.get(key, "")
        if not isinstance(value, str):
            raise bad_request(f"Invalid value for {key}: expected a string")
        values[attr] = value
    if not values["device_type"]:
        raise bad_request("Missing required field: deviceType")
    now = ctx.state.clock.now()
    device = Device(
        uuid=str(uuid.uuid4()),
        person_id=ctx.me.id,
        name=values["name"],
        device_name=values["device_name"],
        device_type=values["device_type"],
        model=values["model"],
        localized_model=values["localized_model"],
        system_name=values["system_name"],
        system_version=values["system_version"],
        created=now,
        modified=now,
    )
    ctx.state.devices[device.uuid] = device
    ctx.state.device_registrations += 1
    return ok(device_json(ctx, device))


@router.route("GET", f"{WDM}/devices/{{uuid}}", root=True, spec_path="")
def get_device(ctx: Ctx) -> Any:
    return ok(device_json(ctx, _mine(ctx, ctx.params["uuid"])))


@router.route("DELETE", f"{WDM}/devices/{{uuid}}", root=True, spec_path="")
def delete_device(ctx: Ctx) -> Any:
    device = _mine(ctx, ctx.params["uuid"])
    del ctx.state.devices[device.uuid]
    ctx.fake.mercury.close_device(device.uuid, 1000, "device deleted")
    return no_content()


@router.route("GET", f"{CONVERSATION}/messages/{{uuid}}", root=True, spec_path="")
def resolve_message(ctx: Ctx) -> Any:
    # Ids are base64 of ciscospark://us/MESSAGE/<uuid>: the REST id follows from the uuid.
    # The same visibility as GET /v1/messages/{id} (members; bots: their mentions).
    msg, _room = visible_message(ctx, make_id("MESSAGE", ctx.params["uuid"]))
    return ok(
        {
            "id": msg.id,
            "objectType": "activity",
            "verb": "share" if msg.files else "post",
            "published": iso(msg.created),
            "url": f"{_root(ctx)}{CONVERSATION}/messages/{ctx.params['uuid']}",
        }
    )


@router.route("GET", f"{CONVERSATION}/attachment/actions/{{uuid}}", root=True, spec_path="")
def resolve_action(ctx: Ctx) -> Any:
    action = ctx.state.attachment_actions.get(make_id("ATTACHMENT_ACTION", ctx.params["uuid"]))
    msg = ctx.state.messages.get(action.message_id) if action else None
    # As GET /v1/attachment/actions/{id}: the submitter and the card's sender only.
    if action is None or ctx.me.id not in (action.person_id, msg.person_id if msg else None):
        raise not_found("Could not find an attachment action with provided ID.")
    return ok(
        {
            "id": action.id,
            "objectType": "activity",
            "verb": "cardAction",
            "published": iso(action.created),
            "url": f"{_root(ctx)}{CONVERSATION}/attachment/actions/{ctx.params['uuid']}",
        }
    )
