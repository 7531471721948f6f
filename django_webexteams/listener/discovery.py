"""Step 1: discovery. The U2C catalog names the device service (``wdm``) and the other
services this token's data centre uses (WEBEX-FACTS, "Receiving without a public URL")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django_webexteams.client import UnauthorizedError, WebexClient

__all__ = ["Services", "discover", "trust"]


class DiscoveryError(Exception):
    """Discovery failed in a way that retrying will not fix (a refused token, no ``wdm``)."""


@dataclass(frozen=True)
class Services:
    wdm: str
    links: dict[str, str]


def trust(client: WebexClient, url: str) -> None:
    """Let the client send its token to ``url``'s host.

    SECURITY: the client sends the bearer token only to the API host and hosts it was told
    to trust. The catalog's hosts are Webex's own (the answer came from the catalog URL over
    HTTPS with our token), so they are added here; a host a websocket frame names is checked
    against this set before any request (resolve.py), never added from the frame."""
    host = (urlsplit(url).hostname or "").lower()
    transport = client.transport
    if host and host not in transport.trusted_hosts:
        transport.trusted_hosts = transport.trusted_hosts | {host}


def discover(client: WebexClient, u2c_url: str) -> Services:
    """``GET <u2c>?format=hostmap``; raises :class:`DiscoveryError` for a refused token."""
    trust(client, u2c_url)
    try:
        answer = client.transport.request("GET", u2c_url, params={"format": "hostmap"})
    except UnauthorizedError as exc:
        raise DiscoveryError(
            f"the token was refused at discovery (401, tracking id {exc.tracking_id}): "
            "check the credential or BOT_TOKEN"
        ) from None
    data: Any = answer.json_object
    links = data.get("serviceLinks")
    if not isinstance(links, dict) or not isinstance(links.get("wdm"), str):
        raise DiscoveryError("the catalog answer names no device service (serviceLinks.wdm)")
    clean = {str(k): v for k, v in links.items() if isinstance(v, str)}
    for url in clean.values():
        trust(client, url)
    return Services(wdm=clean["wdm"].rstrip("/"), links=clean)
