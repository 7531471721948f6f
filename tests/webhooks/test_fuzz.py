"""Property tests: whatever arrives, the receiver never answers 5xx, and nothing without a
valid signature is stored or dispatched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_webexteams.models import WebhookDelivery
from django_webexteams.webhooks import dedupe_key
from tests.webhooks.cases import Request, Target, encode, payload, sign, signed
from tests.webhooks.conftest import Recorder, send

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_names = st.one_of(
    st.sampled_from(
        ["X-Spark-Signature", "Content-Type", "Content-Encoding", "Transfer-Encoding",
         "X-Forwarded-For", "Host", "Cookie"]
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
)  # fmt: skip
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\xe9\xff"),
    max_size=80,
)
signatures = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[0-9a-fA-F]{40}", fullmatch=True),
    st.binary(max_size=64).map(lambda b: sign("some other secret", b)),
)


@FUZZ
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]),
    body=st.one_of(st.binary(max_size=4096), st.just(b"")),
    headers=st.dictionaries(header_names, header_values, max_size=5),
    signature=st.one_of(st.none(), signatures),
    which=st.sampled_from(["url", "unknown_url", "no_secret_url", "inactive_url"]),
)
def test_arbitrary_requests_never_5xx_and_never_dispatch(
    target: Target,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    method: str,
    body: bytes,
    headers: dict[str, str],
    signature: str | None,
    which: str,
) -> None:
    headers = {k: v for k, v in headers.items() if k.lower() not in {"content-length", "host"}}
    if signature is not None:
        headers["X-Spark-Signature"] = signature
    request = Request(method, getattr(target, which), body, headers, "application/json")
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, request)
    assert response.status_code < 500
    assert response.status_code != 200
    assert WebhookDelivery.objects.count() == 0
    assert recorder.calls == []


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(["id", "resource", "event", "actorId", "data", "name", "created"])


@FUZZ
@given(
    overrides=st.dictionaries(field_names, json_values, max_size=3),
    data_overrides=st.dictionaries(st.sampled_from(["id", "roomId", "x"]), json_values, max_size=2),
    drop=st.sets(field_names, max_size=2),
)
def test_correctly_signed_odd_payloads_never_5xx(
    target: Target,
    client: Client,
    django_capture_on_commit_callbacks: Any,
    overrides: dict[str, Any],
    data_overrides: dict[str, Any],
    drop: set[str],
) -> None:
    value = payload(target.webex_id)
    value["data"].update(data_overrides)
    value.update(overrides)
    for name in drop:
        value.pop(name, None)
    body = encode(value)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, signed(target.url, target.secret, body))
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        stored = WebhookDelivery.objects.get(dedupe_key=dedupe_key(json.loads(body)))
        assert stored.data_id == value["data"]["id"]


@pytest.mark.parametrize(
    "value", ["\u00b2", "\u0661\u0662", "1_0", " 1", "-1", "9" * 40, "\x00", "x"]
)
def test_hostile_content_length_and_uuid_never_500(
    client: Client, target: Target, recorder: Recorder, value: str
) -> None:
    """Ids and numbers from the request (issue 16): Content-Length and the uuid path part."""
    body = encode(payload(target.webex_id))
    response = client.generic(
        "POST",
        target.url,
        body,
        content_type="application/json",
        headers={"X-Spark-Signature": sign(target.secret, body)},
        CONTENT_LENGTH=value,
    )
    assert response.status_code < 500
    unknown = target.unknown_url.rstrip("/").rsplit("/", 1)[0] + f"/{value}/"
    assert client.post(unknown, body, content_type="application/json").status_code == 404
