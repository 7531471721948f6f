from __future__ import annotations

import socket

import pytest
import requests

from tests.network_guard import NetworkGuardError


def test_non_loopback_connect_is_refused() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkGuardError):
            s.connect(("192.0.2.1", 443))
    finally:
        s.close()


def test_non_loopback_name_is_not_resolved() -> None:
    with pytest.raises((NetworkGuardError, requests.ConnectionError)):
        requests.get("https://webexapis.com/v1/people/me", timeout=1)


def test_loopback_is_allowed() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
