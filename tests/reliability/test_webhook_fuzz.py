"""Webhook fuzzing: thousands of generated requests against the receiver.

Three generators (hypothesis), about 3,500 examples in all:

1. anything at all: methods, bodies, headers, signatures (random, well-formed hex, signatures
   of other bodies), the four kinds of registration URL (active, unknown, no secret, disabled);
2. mutations of a correctly signed delivery: bytes flipped, inserted, deleted, truncated,
   signatures altered, re-cased, replaced by another body's signature;
3. correctly signed bodies of every shape (realistic payloads with arbitrary JSON values put in
   their fields, and raw bytes).

Invariants, for every example: never a 5xx; nothing is stored and no signal is sent unless
the signature is a valid HMAC-SHA1 of the exact bytes under the registration's secret; a
stored delivery is dispatched exactly once, a redelivery never. The security-case table of
the webhook tests (tests/webhooks/cases.py) seeds the mutations and runs once here too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_webexteams import signals
from django_webexteams.models import Credential, WebhookDelivery
from testproject.bot.receivers import ECHO_UID, echo
from tests.webhooks.cases import CASES, Request, Target, encode, payload, sign
from tests.webhooks.conftest import build_target, make_webhook

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples every run: a failure reproduces
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


class Dispatches:
    """Counts ``webhook_received`` (sent once per dispatched delivery)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.count += 1


@pytest.fixture
def dispatches() -> Iterator[Dispatches]:
    # The example bot would fetch each message from a Webex that is not there.
    signals.message_created.disconnect(dispatch_uid=ECHO_UID)
    counter = Dispatches()
    signals.webhook_received.connect(counter, weak=False)
    yield counter
    signals.webhook_received.disconnect(counter)
    signals.message_created.connect(echo, dispatch_uid=ECHO_UID)


@pytest.fixture
def target(db: None) -> Target:
    # A stored credential knows its own person id, so the own-event check runs without
    # asking a Webex that is not there (people/me).
    bot = Credential.objects.create(
        kind=Credential.Kind.BOT, name="Fuzz bot", access_token="fuzz-token",
        webex_person_id="Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q",
    )  # fmt: skip
    return build_target(make_webhook(credential=bot), credential=bot)


def valid_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """The oracle, independent of the package: is ``signature`` the hex HMAC-SHA1 of these
    exact bytes under ``secret`` (hex case does not matter)?"""
    if not secret or signature is None or len(signature) != 40:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


class Outcome:
    def __init__(self, status: int, text: bytes, stored: int, dispatched: int) -> None:
        self.status, self.text, self.stored, self.dispatched = status, text, stored, dispatched


def post(client: Client, capture: Any, dispatches: Dispatches, request: Request) -> Outcome:
    """Send one request; return its status and how many deliveries it stored and dispatched."""
    stored_before, dispatched_before = WebhookDelivery.objects.count(), dispatches.count
    with capture(execute=True):
        response = client.generic(
            request.method, request.url, data=request.body,
            content_type=request.content_type, headers=request.headers,
        )  # fmt: skip
    return Outcome(
        response.status_code,
        response.content,
        WebhookDelivery.objects.count() - stored_before,
        dispatches.count - dispatched_before,
    )


def check(outcome: Outcome, signed_ok: bool, url_ok: bool) -> None:
    assert outcome.status < 500, outcome.text
    if not (signed_ok and url_ok):
        assert outcome.status != 200 and 400 <= outcome.status < 500
        assert outcome.stored == 0 and outcome.dispatched == 0
        return
    if outcome.status == 200 and outcome.text == b"ok":
        assert outcome.stored == 1 and outcome.dispatched == 1
    else:  # a redelivery (200 "duplicate") or a signed but unusable body (400)
        assert outcome.stored == 0 and outcome.dispatched == 0


# --- 1. anything ----------------------------------------------------------------------------

header_names = st.one_of(
    st.sampled_from(["X-Spark-Signature", "Content-Type", "Content-Encoding", "Transfer-Encoding",
                     "X-Forwarded-For", "X-Forwarded-Proto", "Cookie", "Authorization", "Origin",
                     "X-Http-Method-Override", "Expect"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,24}", fullmatch=True),
)  # fmt: skip
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\xe9\xff"),
    max_size=120,
)
signatures = st.one_of(
    st.none(),
    st.text(max_size=100),
    st.from_regex(r"[0-9a-fA-F]{40}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{39}|[0-9a-f]{41}|[0-9a-f]{64}|sha1=[0-9a-f]{40}", fullmatch=True),
    st.binary(max_size=128).map(lambda b: sign("some other secret", b)),
)
bodies = st.one_of(
    st.binary(max_size=8192),
    st.just(b""),
    st.builds(lambda v: json.dumps(v).encode(), st.dictionaries(st.text(max_size=8), st.text())),
)


@fuzz(1500)
@given(
    method=st.sampled_from(["POST"] * 5 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
                                           "TRACE", "PROPFIND"]),
    body=bodies,
    headers=st.dictionaries(header_names, header_values, max_size=6),
    signature=signatures,
    which=st.sampled_from(["url", "unknown_url", "no_secret_url", "inactive_url"]),
    content_type=st.sampled_from(["application/json", "text/plain", "", "multipart/form-data",
                                  "application/x-www-form-urlencoded"]),
)  # fmt: skip
def test_anything_never_5xx_and_unsigned_never_stored(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any,
    dispatches: Dispatches, method: str, body: bytes, headers: dict[str, str],
    signature: str | None, which: str, content_type: str,
) -> None:  # fmt: skip
    headers = {k: v for k, v in headers.items()
               if k.lower() not in {"content-length", "host", "x-spark-signature"}}  # fmt: skip
    if signature is not None:
        headers["X-Spark-Signature"] = signature
    url = getattr(target, which)
    outcome = post(client, django_capture_on_commit_callbacks, dispatches,
                   Request(method, url, body, headers, content_type))  # fmt: skip
    signed_ok = valid_signature(target.secret, body, signature)
    check(outcome, signed_ok, url_ok=method == "POST" and which == "url")


# --- 2. mutations of a good delivery ---------------------------------------------------------


def _mutate(data: bytes, op: str, position: int, byte: int) -> bytes:
    if not data:
        return bytes([byte])
    i = position % len(data)
    if op == "flip":
        return data[:i] + bytes([data[i] ^ (1 << (byte % 8))]) + data[i + 1 :]
    if op == "insert":
        return data[:i] + bytes([byte]) + data[i:]
    if op == "delete":
        return data[:i] + data[i + 1 :]
    if op == "truncate":
        return data[:i]
    if op == "append":
        return data + bytes([byte])
    if op == "whitespace":
        return data[:i] + b" " + data[i:]
    return data


mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate", "append", "whitespace", "none"]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=255),
)


@fuzz(1000)
@given(
    body_mutations=st.lists(mutation, max_size=3),
    signature_op=st.sampled_from(["keep", "upper", "flip", "truncate", "other", "empty", "pad",
                                  "prefix"]),
    signature_pos=st.integers(min_value=0, max_value=39),
    data_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
)  # fmt: skip
def test_mutated_deliveries_are_refused_unless_still_signed(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any,
    dispatches: Dispatches, body_mutations: list[tuple[str, int, int]], signature_op: str,
    signature_pos: int, data_id: str,
) -> None:  # fmt: skip
    original = encode(payload(target.webex_id, data={"id": data_id, "roomId": "r1"}))
    signature = sign(target.secret, original)
    body = original
    for op, position, byte in body_mutations:
        body = _mutate(body, op, position, byte)
    hexdigits = "0123456789abcdef"
    if signature_op == "upper":
        signature = signature.upper()
    elif signature_op == "flip":
        c = signature[signature_pos]
        signature = (signature[:signature_pos] + hexdigits[(hexdigits.index(c) + 1) % 16]
                     + signature[signature_pos + 1 :])  # fmt: skip
    elif signature_op == "truncate":
        signature = signature[:signature_pos]
    elif signature_op == "other":
        signature = sign(target.secret, original + b" ")
    elif signature_op == "empty":
        signature = ""
    elif signature_op == "pad":
        signature = " " + signature
    elif signature_op == "prefix":
        signature = "sha1=" + signature
    request = Request("POST", target.url, body, {"X-Spark-Signature": signature})
    outcome = post(client, django_capture_on_commit_callbacks, dispatches, request)
    check(outcome, valid_signature(target.secret, body, signature), url_ok=True)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_security_cases_hold_here_too(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any,
    dispatches: Dispatches, case: Any,
) -> None:  # fmt: skip
    outcome = post(client, django_capture_on_commit_callbacks, dispatches, case.build(target))
    assert outcome.status == case.status
    assert outcome.stored == 0 and outcome.dispatched == 0


# --- 3. correctly signed bodies of every shape -----------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=10), children, max_size=4)),
    max_leaves=25,
)  # fmt: skip
fields = st.sampled_from(["id", "resource", "event", "actorId", "data", "name", "created",
                          "orgId", "createdBy", "status", "filter"])  # fmt: skip


@fuzz(1000)
@given(
    shape=st.sampled_from(["payload", "payload", "payload", "raw"]),
    overrides=st.dictionaries(fields, json_values, max_size=3),
    data=st.dictionaries(st.sampled_from(["id", "roomId", "personId", "x"]), json_values,
                         max_size=3),
    drop=st.sets(fields, max_size=2),
    raw=st.binary(max_size=2048),
    repeat=st.booleans(),
)  # fmt: skip
def test_signed_bodies_never_5xx_and_dispatch_once(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any,
    dispatches: Dispatches, shape: str, overrides: dict[str, Any], data: dict[str, Any],
    drop: set[str], raw: bytes, repeat: bool,
) -> None:  # fmt: skip
    if shape == "raw":
        body = raw
    else:
        value = payload(target.webex_id)
        value["data"].update(data)
        value.update(overrides)
        for name in drop:
            value.pop(name, None)
        body = encode(value)
    request = Request("POST", target.url, body, {"X-Spark-Signature": sign(target.secret, body)})
    first = post(client, django_capture_on_commit_callbacks, dispatches, request)
    check(first, signed_ok=True, url_ok=True)
    if repeat:
        again = post(client, django_capture_on_commit_callbacks, dispatches, request)
        assert again.status == first.status
        assert again.stored == 0 and again.dispatched == 0
