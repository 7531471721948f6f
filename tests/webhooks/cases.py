"""The one table of webhook security cases, applied to every webhook path.

Each case builds a request from a :class:`Target` (what the endpoint under test knows:
URLs, secret, Webex id, size cap) and says which 4xx it must get. Whatever the transport
(Django's test client, a live server, a fuzzer), every case must also write no
``WebhookDelivery`` and send no signal. Import ``CASES`` and ``Target`` from here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CASES",
    "Request",
    "SecurityCase",
    "Target",
    "encode",
    "payload",
    "sign",
    "signed",
]


@dataclass(frozen=True)
class Target:
    """The endpoint under test.

    ``url``: receiver of an active registration with ``secret`` and ``webex_id``;
    ``unknown_url``: a receiver URL whose uuid has no row; ``no_secret_url``: an active row
    with an empty secret (Webex id ``no_secret_webex_id``); ``inactive_url``: a row
    disabled by Webex (secret ``secret``, Webex id ``inactive_webex_id``); ``max_body``: the
    ``WEBHOOK_MAX_BODY_BYTES`` in force.
    """

    url: str
    secret: str
    webex_id: str
    unknown_url: str
    no_secret_url: str
    no_secret_webex_id: str
    inactive_url: str
    inactive_webex_id: str
    max_body: int


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class SecurityCase:
    name: str
    status: int
    build: Callable[[Target], Request]

    def __str__(self) -> str:
        return self.name


def payload(webex_id: str | None, **overrides: Any) -> dict[str, Any]:
    """A realistic ``messages:created`` delivery for webhook ``webex_id`` (shape from
    https://developer.webex.com/docs/webhooks)."""
    body: dict[str, Any] = {
        "id": webex_id,
        "name": "Test webhook",
        "targetUrl": "https://example.com/webex/webhooks/x/",
        "resource": "messages",
        "event": "created",
        "orgId": "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9vcmc",
        "createdBy": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q",
        "appId": "Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL2FwcA",
        "ownedBy": "creator",
        "status": "active",
        "created": "2026-11-28T08:00:00.000Z",
        "actorId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbGljZQ",
        "data": {
            "id": "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvbTE",
            "roomId": "Y2lzY29zcGFyazovL3VzL1JPT00vcjE",
            "roomType": "group",
            "personId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbGljZQ",
            "personEmail": "alice@example.com",
            "created": "2026-11-28T08:01:02.345Z",
        },
    }
    body.update(overrides)
    return body


def encode(value: Any) -> bytes:
    """Compact JSON, as Webex sends it."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """``X-Spark-Signature`` (computed here independently of the client's ``sign_body``)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def signed(url: str, secret: str, body: bytes, **kwargs: Any) -> Request:
    return Request("POST", url, body, {"X-Spark-Signature": sign(secret, body)}, **kwargs)


def _good(t: Target) -> bytes:
    return encode(payload(t.webex_id))


def _with_signature(signature: str) -> Callable[[Target], Request]:
    return lambda t: Request("POST", t.url, _good(t), {"X-Spark-Signature": signature})


def _spaced(signature: str) -> str:
    # Still 40 characters, one of them a space (a proxy mangling the header).
    return signature[:20] + " " + signature[21:]


def _tampered(t: Target) -> Request:
    body = _good(t)
    evil = body.replace(b"alice@example.com", b"mallory@example.com")
    assert evil != body
    return Request("POST", t.url, evil, {"X-Spark-Signature": sign(t.secret, body)})


def _reserialised(t: Target) -> Request:
    # Same JSON value, different bytes: the signature covers the raw body, not the value.
    body = _good(t)
    pretty = json.dumps(json.loads(body), indent=2, sort_keys=True).encode()
    return Request("POST", t.url, pretty, {"X-Spark-Signature": sign(t.secret, body)})


def _oversized(t: Target) -> Request:
    filler = "x" * t.max_body
    return signed(t.url, t.secret, encode(payload(t.webex_id, padding=filler)))


def _signed_payload(**overrides: Any) -> Callable[[Target], Request]:
    return lambda t: signed(t.url, t.secret, encode(payload(t.webex_id, **overrides)))


def _signed_bytes(
    body: bytes, content_type: str = "application/json"
) -> Callable[[Target], Request]:
    return lambda t: signed(t.url, t.secret, body, content_type=content_type)


def _signed_with_raw(fragment: bytes) -> Callable[[Target], Request]:
    """A full, valid payload whose ``extra`` field is the raw JSON ``fragment`` (for values
    ``json.dumps`` would never write: NaN, lone surrogates, absurd nesting)."""

    def build(t: Target) -> Request:
        body = encode(payload(t.webex_id, extra="@@RAW@@")).replace(b'"@@RAW@@"', fragment)
        return signed(t.url, t.secret, body)

    return build


def _without_data_id(t: Target) -> Request:
    value = payload(t.webex_id)
    del value["data"]["id"]
    return signed(t.url, t.secret, encode(value))


def _without_key(key: str) -> Callable[[Target], Request]:
    def build(t: Target) -> Request:
        value = payload(t.webex_id)
        del value[key]
        return signed(t.url, t.secret, encode(value))

    return build


def _no_secret_row(t: Target) -> Request:
    # An attacker's best guess for a row without a secret: the HMAC under an empty key.
    return signed(t.no_secret_url, "", encode(payload(t.no_secret_webex_id)))


CASES: list[SecurityCase] = [
    SecurityCase("GET", 405, lambda t: Request("GET", t.url)),
    SecurityCase("PUT with a valid signature", 405, lambda t: Request(
        "PUT", t.url, _good(t), {"X-Spark-Signature": sign(t.secret, _good(t))})),
    SecurityCase("unknown uuid", 404, lambda t: signed(
        t.unknown_url, t.secret, encode(payload(t.webex_id)))),
    SecurityCase("inactive webhook", 404, lambda t: signed(
        t.inactive_url, t.secret, encode(payload(t.inactive_webex_id)))),
    SecurityCase("missing signature", 403, lambda t: Request("POST", t.url, _good(t))),
    SecurityCase("empty signature", 403, _with_signature("")),
    SecurityCase("non-hex signature", 403, _with_signature("z" * 40)),
    SecurityCase("signature too short", 403, _with_signature("0" * 39)),
    SecurityCase("signature too long (sha256)", 403, _with_signature("0" * 64)),
    SecurityCase("signature with a space inside", 403, lambda t: Request(
        "POST", t.url, _good(t), {"X-Spark-Signature": _spaced(sign(t.secret, _good(t)))})),
    SecurityCase("wrong secret", 403, lambda t: signed(t.url, t.secret + "x", _good(t))),
    SecurityCase("signature of another body", 403, lambda t: Request(
        "POST", t.url, _good(t), {"X-Spark-Signature": sign(t.secret, b"{}")})),
    SecurityCase("tampered body", 403, _tampered),
    SecurityCase("re-serialised JSON, original signature", 403, _reserialised),
    SecurityCase("row without secret", 403, _no_secret_row),
    SecurityCase("oversized body", 413, _oversized),
    SecurityCase("signed non-JSON", 400, _signed_bytes(b"hello, webhook", "text/plain")),
    SecurityCase("signed empty body", 400, _signed_bytes(b"")),
    SecurityCase("signed non-UTF-8", 400, _signed_bytes(b'{"id": "\xff\xfe"}')),
    SecurityCase("signed JSON array", 400, _signed_bytes(b"[1, 2, 3]")),
    SecurityCase("signed NaN", 400, _signed_with_raw(b"NaN")),
    # 1e400 overflows to inf, which PostgreSQL's jsonb refuses (DataError, a 500) if stored.
    SecurityCase("signed number overflowing to infinity", 400, _signed_with_raw(b"1e400")),
    SecurityCase("signed deeply nested JSON", 400,
                 _signed_with_raw(b"[" * 100000 + b"]" * 100000)),
    SecurityCase("signed JSON without data.id", 400, _without_data_id),
    SecurityCase("signed JSON with a numeric data.id", 400,
                 _signed_payload(data={"id": 12345})),
    SecurityCase("signed JSON with data not an object", 400, _signed_payload(data="x")),
    SecurityCase("signed JSON without resource", 400, _without_key("resource")),
    SecurityCase("signed JSON without event", 400, _without_key("event")),
    SecurityCase("signed JSON with an over-long resource", 400,
                 _signed_payload(resource="m" * 65)),
    SecurityCase("signed JSON with a NUL character", 400,
                 _signed_payload(data={"id": "m1", "roomId": "r\u00001"})),
    SecurityCase("signed JSON with a lone surrogate", 400, _signed_with_raw(b'"\\ud800"')),
    SecurityCase("wrong webhook id in payload", 400, _signed_payload(id="another-webhook")),
    SecurityCase("no webhook id in payload", 400, _without_key("id")),
]  # fmt: skip
