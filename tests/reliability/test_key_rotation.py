"""Key rotation while webhook deliveries and sends are in flight.

The procedure of docs/encryption.md, under load: rows written under the OLD key; every
process deployed with ``ENCRYPTION_KEYS = [NEW, OLD]``; then, while real Celery workers send
messages with 40 stored credentials (decrypting their tokens), four threads post signed
deliveries to 120 webhooks on a live server (decrypting their secrets) and another thread keeps
re-saving credentials and webhook secrets (as token refreshes and secret rotations do),
``webexteams_rotate_keys`` runs in small batches. Afterwards the old key is removed:
every value must still be readable, no delivery refused, no message lost, and a second
rotation finds nothing left to do.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import close_old_connections, transaction

from django_webexteams import messaging, signals
from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery
from testproject.bot.receivers import ECHO_UID, echo
from tests.reliability.conftest import report, wait_until
from tests.webhooks.cases import encode, payload, sign

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
CREDENTIALS, WEBHOOKS, MESSAGES, DELIVERIES = 40, 120, 400, 600


def use_keys(settings: Any, *keys: str) -> None:
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "ENCRYPTION_KEYS": list(keys)}


@pytest.fixture
def no_echo_bot() -> Iterator[None]:
    signals.message_created.disconnect(dispatch_uid=ECHO_UID)
    yield
    signals.message_created.connect(echo, dispatch_uid=ECHO_UID)


def test_rotation_under_load_leaves_nothing_unreadable(
    celery_workers: Any, fake_webex: Any, live_server: Any, settings: Any, no_echo_bot: None,
    capsys: Any,
) -> None:  # fmt: skip
    fake = fake_webex
    alice = fake.add_person("alice@example.com", "Alice")
    use_keys(settings, OLD)
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH_OWN_EVENTS": True}
    bots = [fake.add_bot(f"Rotation Bot {i}") for i in range(CREDENTIALS)]
    tokens: dict[int, str] = {}
    for bot in bots:
        cred = Credential.objects.create(
            kind=Credential.Kind.BOT, name=bot.display_name, access_token=bot.token,
            webex_person_id=bot.id, email=bot.email,
        )  # fmt: skip
        tokens[cred.pk] = bot.token
    secrets: dict[int, str] = {}
    for i in range(WEBHOOKS):
        hook = Webhook.objects.create(
            name=f"rotation {i}", resource="messages", event="created",
            secret=f"secret-{uuid.uuid4().hex}", webex_id=f"webhook-{uuid.uuid4().hex}",
            target_url="https://example.com/",
        )  # fmt: skip
        secrets[hook.pk] = hook.secret
    hooks = list(Webhook.objects.values_list("pk", "uuid", "webex_id"))

    # Step 1 of the procedure: every process runs with [NEW, OLD].
    use_keys(settings, NEW, OLD)
    group = celery_workers(
        fake.base_url, count=2, concurrency=2,
        webexteams={"ENCRYPTION_KEYS": [NEW, OLD], "REQUEST_TIMEOUT": [2.0, 5.0],
                    "WEBHOOK_DISPATCH_OWN_EVENTS": True},
    )  # fmt: skip
    fake.set_latency(0.02, path="/messages")
    credentials = list(Credential.objects.order_by("pk"))
    with transaction.atomic():
        for i in range(MESSAGES):
            messaging.send_message(to_person_email=alice.email, text=f"rotation {i}",
                                   credential=credentials[i % CREDENTIALS])  # fmt: skip

    answers: Counter[int] = Counter()
    answers_lock = threading.Lock()
    stop = threading.Event()

    def deliver(n: int) -> None:
        pk, hook_uuid, webex_id = hooks[n % len(hooks)]
        body = encode(payload(webex_id, data={"id": f"rotation-{n}", "roomId": "r"}))
        response = requests.post(
            f"{live_server.url}/webex/webhooks/{hook_uuid}/", data=body, timeout=60,
            headers={"Content-Type": "application/json",
                     "X-Spark-Signature": sign(secrets[pk], body)},
        )  # fmt: skip
        with answers_lock:
            answers[response.status_code] += 1

    rewrites = Counter[str]()

    def rewrite() -> None:
        # What token refreshes and secret rotations do meanwhile: write the values again
        # (encrypted under the first key of the moment, NEW).
        rng = random.Random(1)
        try:
            while not stop.is_set():
                cred = Credential.objects.get(pk=rng.choice(list(tokens)))
                cred.access_token = tokens[cred.pk]
                cred.save(update_fields=["access_token", "updated_at"])
                hook = Webhook.objects.get(pk=rng.choice(list(secrets)))
                hook.secret = secrets[hook.pk]
                hook.save(update_fields=["secret", "updated_at"])
                rewrites["rows"] += 2
                time.sleep(0.05)
        finally:
            close_old_connections()

    rewriter = threading.Thread(target=rewrite)
    rewriter.start()
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(deliver, n) for n in range(DELIVERIES)]
        wait_until(lambda: sum(answers.values()) >= DELIVERIES // 5, 120, "deliveries to flow")
        in_flight = {
            "deliveries answered": sum(answers.values()),
            "messages sent": OutboundMessage.objects.filter(status="sent").count(),
        }
        out = StringIO()
        call_command("webexteams_rotate_keys", batch_size=3, stdout=out)
        after_rotation = {
            "deliveries answered": sum(answers.values()),
            "messages sent": OutboundMessage.objects.filter(status="sent").count(),
        }
        for future in futures:
            future.result()
    stop.set()
    rewriter.join()
    wait_until(lambda: OutboundMessage.objects.filter(status="sent").count() == MESSAGES, 300,
               "every message to be sent", group.logs)  # fmt: skip
    group.stop()
    summary = out.getvalue().strip().splitlines()[-1]

    # Step 3: the old key is gone.
    use_keys(settings, NEW)
    for cred in Credential.objects.all():
        assert cred.access_token == tokens[cred.pk]
    for hook in Webhook.objects.all():
        assert hook.secret == secrets[hook.pk]
    again = StringIO()
    call_command("webexteams_rotate_keys", stdout=again)
    second = again.getvalue().strip().splitlines()[-1]
    report(capsys, f"key rotation: started at {in_flight}, finished at {after_rotation}; "
                   f"{summary}; concurrent rewrites {rewrites['rows']}; delivery answers "
                   f"{dict(answers)}; second run: {second}")  # fmt: skip
    assert answers == {200: DELIVERIES}, "no delivery refused while keys rotated"
    assert WebhookDelivery.objects.count() == DELIVERIES
    assert "0 unreadable" in summary
    assert "0 re-encrypted" in again.getvalue() and "0 unreadable" in again.getvalue()
    assert not OutboundMessage.objects.exclude(status="sent").exists()
    with fake.state.lock:
        texts = Counter(m.text for m in fake.state.messages.values())
    assert all(texts[f"rotation {i}"] == 1 for i in range(MESSAGES))
