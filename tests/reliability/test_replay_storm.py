"""A replay storm: the same signed delivery 1,000 times from 8 threads against a live server on
PostgreSQL. Webex deliveries carry no id and no timestamp, so a replay (an attacker's, or
Webex redelivering) is only recognisable by its content: exactly one row, one dispatch."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from django_webexteams import signals, webhooks
from django_webexteams.client import generate_secret
from django_webexteams.models import Webhook, WebhookDelivery
from testproject.bot.receivers import ECHO_UID, echo
from tests.reliability.conftest import report
from tests.webhooks.cases import encode, payload, sign

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

THREADS = 8


class Dispatches:
    def __init__(self) -> None:
        self.data_ids: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, sender: Any, event: Any, **kwargs: Any) -> None:
        time.sleep(0.01)  # a receiver that does a little work widens any race window
        with self.lock:
            self.data_ids[event.data["id"]] += 1


@pytest.fixture
def dispatches() -> Iterator[Dispatches]:
    signals.message_created.disconnect(dispatch_uid=ECHO_UID)
    counter = Dispatches()
    signals.webhook_received.connect(counter, weak=False)
    yield counter
    signals.webhook_received.disconnect(counter)
    signals.message_created.connect(echo, dispatch_uid=ECHO_UID)


def storm(url: str, requests_: list[tuple[bytes, str]]) -> Counter[tuple[int, bytes]]:
    """POST every (body, signature) from THREADS threads, each with its own keep-alive
    session; return how often each (status, answer) came back."""
    local = threading.local()

    def one(item: tuple[bytes, str]) -> tuple[int, bytes]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        body, signature = item
        response = local.session.post(
            url, data=body, timeout=60,
            headers={"Content-Type": "application/json", "X-Spark-Signature": signature},
        )  # fmt: skip
        return response.status_code, response.content

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(pool.map(one, requests_))


@pytest.fixture
def webhook(transactional_db: None, settings: Any) -> Webhook:
    # No own-event check: it would look up the bot's person id at a Webex that is not there
    # (the storm is about deduplication; tests/webhooks covers own events).
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH_OWN_EVENTS": True}
    return Webhook.objects.create(
        name="Storm", resource="messages", event="created", secret=generate_secret(),
        webex_id=f"webhook-{uuid.uuid4().hex}", target_url="https://example.com/",
    )  # fmt: skip


def test_the_same_delivery_1000_times_is_dispatched_once(
    live_server: Any, webhook: Webhook, dispatches: Dispatches, capsys: Any
) -> None:
    body = encode(payload(webhook.webex_id, data={"id": "storm-message", "roomId": "r"}))
    url = live_server.url + f"/webex/webhooks/{webhook.uuid}/"
    started = time.monotonic()
    answers = storm(url, [(body, sign(webhook.secret, body))] * 1000)
    elapsed = time.monotonic() - started
    report(capsys, f"replay storm: 1000 requests from {THREADS} threads in {elapsed:.1f}s: "
                   f"{dict(answers)}; dispatched {dict(dispatches.data_ids)}")  # fmt: skip
    assert answers == {(200, b"ok"): 1, (200, b"duplicate"): 999}
    assert WebhookDelivery.objects.count() == 1
    assert dispatches.data_ids == {"storm-message": 1}
    webhooks.flush_outcomes()
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PROCESSED


def test_ten_deliveries_replayed_100_times_each_interleaved(
    live_server: Any, webhook: Webhook, dispatches: Dispatches, capsys: Any
) -> None:
    items = []
    for n in range(10):
        body = encode(payload(webhook.webex_id, data={"id": f"m{n}", "roomId": "r"}))
        items += [(body, sign(webhook.secret, body))] * 100
    random.Random(10).shuffle(items)
    answers = storm(live_server.url + f"/webex/webhooks/{webhook.uuid}/", items)
    report(capsys, f"interleaved storm: {dict(answers)}")
    assert answers == {(200, b"ok"): 10, (200, b"duplicate"): 990}
    assert WebhookDelivery.objects.count() == 10
    assert dispatches.data_ids == {f"m{n}": 1 for n in range(10)}
