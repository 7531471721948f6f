"""The receiver view: the security table, acceptance, dedupe and size handling."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.handlers.wsgi import LimitedStream
from django.test import Client
from django.test.client import RequestFactory

from django_webexteams.models import Webhook, WebhookDelivery
from django_webexteams.webhooks import dedupe_key
from django_webexteams.webhooks import store as webhook_store
from django_webexteams.webhooks.receive import receive
from tests.webhooks.cases import CASES, SecurityCase, Target, encode, payload, sign, signed
from tests.webhooks.conftest import Recorder, send

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("case", CASES, ids=str)
def test_security_case_is_refused_and_leaves_no_trace(
    case: SecurityCase,
    target: Target,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = send(client, case.build(target))
    assert response.status_code == case.status, response.content
    assert WebhookDelivery.objects.count() == 0
    assert callbacks == []
    assert recorder.calls == []


def test_the_table_covers_every_status_class() -> None:
    assert {c.status for c in CASES} == {400, 403, 404, 405, 413}


def test_a_valid_delivery_is_stored_and_dispatched_once(
    target: Target,
    webhook: Webhook,
    recorder: Recorder,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = encode(payload(target.webex_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, signed(target.url, target.secret, body))
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.webhook == webhook
    assert (delivery.resource, delivery.event) == ("messages", "created")
    assert delivery.data_id == "Y2lzY29zcGFyazovL3VzL01FU1NBR0UvbTE"
    assert delivery.actor_id == "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbGljZQ"
    assert delivery.payload == payload(target.webex_id)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.attempts == 1
    assert recorder.names() == ["webhook_received", "messages:created"]
    kwargs = recorder.calls[1][1]
    assert kwargs["webhook"] == webhook
    assert kwargs["delivery"].pk == delivery.pk
    assert kwargs["event"].data_id == delivery.data_id


def test_uppercase_hex_signature_is_accepted(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    body = encode(payload(target.webex_id))
    request = signed(target.url, target.secret, body)
    request.headers["X-Spark-Signature"] = request.headers["X-Spark-Signature"].upper()
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, request).status_code == 200


def test_a_body_of_exactly_the_cap_is_read(
    target: Target, client: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = encode(payload(target.webex_id))
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_MAX_BODY_BYTES": len(body)}
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, signed(target.url, target.secret, body)).status_code == 200
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_MAX_BODY_BYTES": len(body) - 1}
    assert send(client, signed(target.url, target.secret, body)).status_code == 413


class CountingStream(io.BytesIO):
    """A wsgi.input that records how many bytes the view asked for."""

    requested = 0

    def read(self, size: int | None = -1) -> bytes:
        self.requested += size if size and size > 0 else len(self.getvalue())
        return super().read(size)


def test_the_view_never_reads_past_the_cap(target: Target, settings: Any) -> None:
    """Even if a server handed the view an unbounded stream (Content-Length understated or
    absent), at most cap + 1 bytes are read, and the answer is 413."""
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_MAX_BODY_BYTES": 1000}
    stream = CountingStream(b"x" * 10_000_000)
    request = RequestFactory().post(target.url, data=b"", content_type="application/json")
    request.META["CONTENT_LENGTH"] = "500"
    request._stream = LimitedStream(stream, 10_000_000)  # type: ignore[assignment]
    webhook_uuid = Webhook.objects.get(webex_id=target.webex_id).uuid
    response = receive(request, uuid=webhook_uuid)
    assert response.status_code == 413
    assert 0 < stream.requested <= 1001


def test_a_redelivery_is_acknowledged_but_not_dispatched_again(
    target: Target, recorder: Recorder, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    body = encode(payload(target.webex_id))
    with django_capture_on_commit_callbacks(execute=True):
        first = send(client, signed(target.url, target.secret, body))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = send(client, signed(target.url, target.secret, body))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == b"duplicate"
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 1
    assert recorder.names() == ["webhook_received", "messages:created"]


def test_redelivery_with_changed_registration_fields_is_still_a_duplicate(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """Webex may rename or re-status the registration between a delivery and its retry;
    only the event fields are in the dedupe key."""
    original = payload(target.webex_id)
    retried = payload(target.webex_id, name="Renamed", status="inactive")
    assert dedupe_key(original) == dedupe_key(retried)
    with django_capture_on_commit_callbacks(execute=True):
        send(client, signed(target.url, target.secret, encode(original)))
        send(client, signed(target.url, target.secret, encode(retried)))
    assert WebhookDelivery.objects.count() == 1


def test_distinct_events_get_distinct_keys(target: Target) -> None:
    base = payload(target.webex_id)
    other_message = payload(target.webex_id, data={**base["data"], "id": "m2"})
    deleted = payload(target.webex_id, event="deleted")
    other_actor = payload(target.webex_id, actorId="someone-else")
    keys = {dedupe_key(p) for p in (base, other_message, deleted, other_actor)}
    assert len(keys) == 4
    # Key order in the body does not matter (Webex may serialise differently on retry).
    reordered = dict(reversed(list(base.items())))
    assert dedupe_key(reordered) == dedupe_key(base)


def test_rejections_are_logged_without_body_or_signature(
    target: Target, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    body = encode(payload(target.webex_id, data={"id": "m1", "secretText": "TOPSECRET"}))
    bad = sign("wrong", body)
    send(client, signed(target.url, target.secret + "x", body))
    assert "TOPSECRET" not in caplog.text
    assert bad not in caplog.text
    assert target.secret not in caplog.text
    assert "bad signature" in caplog.text


def test_csrf_is_not_required(target: Target, django_capture_on_commit_callbacks: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    body = encode(payload(target.webex_id))
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, signed(target.url, target.secret, body)).status_code == 200


class BrokenStream(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise OSError("connection reset by peer")


def test_a_client_that_hangs_up_mid_body_gets_a_4xx(target: Target) -> None:
    request = RequestFactory().post(target.url, data=b"{}", content_type="application/json")
    request._stream = LimitedStream(BrokenStream(b"{}"), 2)  # type: ignore[assignment]
    webhook_uuid = Webhook.objects.get(webex_id=target.webex_id).uuid
    assert receive(request, uuid=webhook_uuid).status_code == 400
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("on_conflict", [True, False], ids=["on-conflict", "orm-savepoint"])
def test_losing_the_insert_race_is_a_duplicate_and_the_transaction_survives(
    webhook: Webhook, on_conflict: bool
) -> None:
    """There is no read before the insert: the second copy's insert itself hits the unique
    key. It must return the first row, and the surrounding transaction stays usable (ON
    CONFLICT DO NOTHING raises nothing; the ORM path of other backends confines its
    IntegrityError to a savepoint)."""
    from unittest import mock

    from django.db import transaction

    from django_webexteams import webhooks

    body = payload(webhook.webex_id)
    with transaction.atomic():
        first, created = webhooks.accept_delivery(webhook, body)
        assert created
        if on_conflict:
            second, created_again = webhooks.accept_delivery(webhook, body)
        else:
            with mock.patch.object(webhook_store, "_insert_sql", return_value=None):
                second, created_again = webhooks.accept_delivery(webhook, body)
        assert (second.pk, created_again) == (first.pk, False)
        assert WebhookDelivery.objects.count() == 1  # the transaction still works


def test_every_authentication_failure_gets_the_same_answer(target: Target, client: Client) -> None:
    bodies = {send(client, case.build(target)).content for case in CASES if case.status == 403}
    assert bodies == {b"invalid signature"}


@pytest.mark.parametrize("case", [c for c in CASES if c.status == 403], ids=str)
def test_debug_mode_bypasses_nothing(
    case: SecurityCase, target: Target, recorder: Recorder, client: Client, settings: Any
) -> None:
    """Attack: the "DEBUG skips the signature" shortcut some peers ship (dj-stripe's DEBUG
    header, anymail accepting unsigned requests without a secret). With DEBUG on, every
    authentication failure is still a 403 that stores and dispatches nothing."""
    settings.DEBUG = True
    response = send(client, case.build(target))
    assert response.status_code == 403
    assert WebhookDelivery.objects.count() == 0
    assert recorder.calls == []


def test_the_stored_payload_is_the_parsed_body_whatever_its_formatting(
    target: Target, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """The receiver stores the verified body's JSON text (not a re-serialisation): what is
    read back is the payload it parsed, whitespace, key order and escapes notwithstanding."""
    body = (
        b'{\n  "data": {"id": "m-pretty", "text": "caf\\u00e9 \\"quoted\\"", "n": 1.5e3},\n'
        b'  "event": "created", "resource": "messages",\n'
        b'  "id": "' + target.webex_id.encode() + b'", "actorId": "alice"\n}'
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, signed(target.url, target.secret, body)).status_code == 200
    stored = WebhookDelivery.objects.get()
    assert stored.payload == {
        "data": {"id": "m-pretty", "text": 'café "quoted"', "n": 1500.0},
        "event": "created",
        "resource": "messages",
        "id": target.webex_id,
        "actorId": "alice",
    }
