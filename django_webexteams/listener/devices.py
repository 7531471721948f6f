"""Step 2: the device. One device per listener name, reused across restarts and errors; a new
one only when Webex says the old one is gone (a 404 at the websocket handshake).

Registering a device on every start or error is the known fault of websocket bots that ends in
Webex refusing "excessive device registrations" (WEBEX-FACTS).
"""

from __future__ import annotations

import logging
from typing import Any

from django_webexteams.client import NotFoundError, WebexClient

__all__ = ["Devices"]

logger = logging.getLogger("django_webexteams.listener")


class Devices:
    """The listener's device at the device service ``wdm``."""

    def __init__(self, client: WebexClient, wdm: str, name: str) -> None:
        self.client = client
        self.wdm = wdm.rstrip("/")
        self.name = name
        self.registered = 0  # devices this process created

    def _body(self) -> dict[str, Any]:
        return {
            "deviceName": self.name,
            "deviceType": "DESKTOP",
            "localizedModel": "python",
            "model": "python",
            "name": self.name,
            "systemName": "django-webexteams",
            "systemVersion": "1",
        }

    def find(self) -> dict[str, Any] | None:
        """The token's device named :attr:`name`, if Webex still lists one."""
        answer = self.client.transport.request("GET", f"{self.wdm}/devices")
        devices = answer.json_object.get("devices")
        for device in devices if isinstance(devices, list) else []:
            if (
                isinstance(device, dict)
                and device.get("name") == self.name
                and isinstance(device.get("webSocketUrl"), str)
            ):
                return device
        return None

    def create(self) -> dict[str, Any]:
        answer = self.client.transport.request(
            "POST", f"{self.wdm}/devices", json_body=self._body()
        )
        device = answer.json_object
        if not isinstance(device.get("webSocketUrl"), str):
            raise ValueError("the device service answered without a webSocketUrl")
        self.registered += 1
        logger.info("Registered Webex device %r", self.name)
        return device

    def find_or_create(self) -> dict[str, Any]:
        return self.find() or self.create()

    def replace(self, stale: dict[str, Any]) -> dict[str, Any]:
        """After a handshake 404: drop the stale device (if Webex still has it) and register
        a new one; an existing other device of this name is reused instead."""
        self.delete(stale)
        found = self.find()
        if found is not None and found.get("url") != stale.get("url"):
            return found
        return self.create()

    def delete(self, device: dict[str, Any]) -> None:
        url = device.get("url")
        if not isinstance(url, str):
            return
        try:
            self.client.transport.request("DELETE", url, expect_json=False)
        except NotFoundError:
            pass  # already gone
        except Exception:
            logger.warning("Could not delete the Webex device %s", url, exc_info=True)
