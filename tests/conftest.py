"""Suite-wide fixtures. The network guard lives here: no test may reach a host other than
loopback (the fake Webex, the live test server, Redis and PostgreSQL on 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "testserver"}


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkGuardError(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard_address(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise NetworkGuardError(f"test tried to connect to non-loopback host {host!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _guard_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _guard_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_loopback(host):
        raise NetworkGuardError(f"test tried to resolve non-loopback host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    # Installed for the whole session (also in threads and before fixtures run); worker
    # processes started by tests install their own through tests/_guard.py where needed.
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _no_real_webex(settings: Any) -> Iterator[None]:
    """Make sure nothing defaults to the real Webex: the API base points at a closed port
    unless a test points it at the fake Webex."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "API_BASE_URL": "http://127.0.0.1:9/v1"}
    yield


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
