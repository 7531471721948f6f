"""Webex REST ids from the uuids a websocket activity carries.

A REST id is unpadded base64 of ``ciscospark://<cluster>/<TYPE>/<uuid>``. The cluster (``us``,
or e.g. ``urn:TEAM:eu-central-1_k``) is taken from an id Webex gave us (the listener's own
person id), so that ids built here name objects in the right data centre.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["cluster_of", "rest_id", "uuid_of"]


def _decode(value: str) -> str | None:
    try:
        padded = value + "=" * (-len(value) % 4)
        uri = base64.b64decode(padded.replace("-", "+").replace("_", "/")).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return uri if uri.startswith("ciscospark://") else None


def cluster_of(rest: str, default: str = "us") -> str:
    """The cluster part of a REST id (``us`` when it is not one)."""
    uri = _decode(rest)
    if uri is None:
        return default
    head, sep, _tail = uri[len("ciscospark://") :].rpartition("/")
    cluster, sep2, _kind = head.rpartition("/")
    return cluster if sep and sep2 and cluster else default


def uuid_of(rest: str) -> str | None:
    """The uuid inside a REST id, or ``None``."""
    uri = _decode(rest)
    if uri is None:
        return None
    return uri.rpartition("/")[2] or None


def rest_id(kind: str, raw: str, cluster: str = "us") -> str:
    """The REST id of ``kind`` (``PEOPLE``, ``ROOM``, ``MESSAGE``, ``MEMBERSHIP``) for ``raw``,
    written the way Webex writes its ids (no padding)."""
    uri = f"ciscospark://{cluster}/{kind}/{raw}"
    return base64.b64encode(uri.encode()).decode().rstrip("=")
