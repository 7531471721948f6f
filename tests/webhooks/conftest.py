"""Fixtures of the webhook tests: registered rows, the security-case target, a signal recorder."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from django_webexteams import conf, signals
from django_webexteams.client import generate_secret
from django_webexteams.models import Webhook
from testproject.bot.receivers import CARD_UID, ECHO_UID, card_submitted, echo
from tests.webhooks.cases import Request, Target

ALL_WEBHOOK_SIGNALS = {
    "webhook_received": signals.webhook_received,
    **{f"{r}:{e}": s for (r, e), s in signals.EVENT_SIGNALS.items()},
}


def receiver_path(webhook_uuid: uuid.UUID) -> str:
    return reverse("webexteams:webhook", kwargs={"uuid": webhook_uuid})


def make_webhook(**fields: Any) -> Webhook:
    defaults: dict[str, Any] = {
        "name": "Test webhook",
        "resource": "messages",
        "event": "created",
        "secret": generate_secret(),
        "webex_id": f"webhook-{uuid.uuid4().hex}",
        "target_url": "https://example.com/",
    }
    defaults.update(fields)
    return Webhook.objects.create(**defaults)


@pytest.fixture(autouse=True)
def _without_example_bot() -> Iterator[None]:
    """The test project's echo bot answers message_created; unit tests here must not depend
    on it (it needs a reachable Webex). Tests that want it reconnect it."""
    signals.message_created.disconnect(dispatch_uid=ECHO_UID)
    signals.attachment_action_created.disconnect(dispatch_uid=CARD_UID)
    yield
    signals.message_created.connect(echo, dispatch_uid=ECHO_UID)
    signals.attachment_action_created.connect(card_submitted, dispatch_uid=CARD_UID)


@dataclass
class Recorder:
    """Every webhook signal sent in this process: ``calls`` = [(signal name, kwargs)]."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: threading.Event = field(default_factory=threading.Event)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    handlers = []
    for name, signal in ALL_WEBHOOK_SIGNALS.items():

        def handler(sender: Any, _name: str = name, **kwargs: Any) -> None:
            with rec.lock:
                rec.calls.append((_name, kwargs))
            if _name == "webhook_received":
                rec.received.set()

        signal.connect(handler, weak=False)
        handlers.append((signal, handler))
    yield rec
    for signal, handler in handlers:
        signal.disconnect(handler)


@pytest.fixture
def webhook(db: None) -> Webhook:
    return make_webhook()


def build_target(webhook: Webhook, **fields: Any) -> Target:
    """The security table's target around ``webhook``: also creates a row without a secret
    and an inactive row (``fields`` go to both, e.g. the credential)."""
    no_secret = make_webhook(secret="", **fields)
    inactive = make_webhook(status=Webhook.Status.INACTIVE, secret=webhook.secret, **fields)
    return Target(
        url=receiver_path(webhook.uuid),
        secret=webhook.secret,
        webex_id=str(webhook.webex_id),
        unknown_url=receiver_path(uuid.uuid4()),
        no_secret_url=receiver_path(no_secret.uuid),
        no_secret_webex_id=str(no_secret.webex_id),
        inactive_url=receiver_path(inactive.uuid),
        inactive_webex_id=str(inactive.webex_id),
        max_body=int(conf.get("WEBHOOK_MAX_BODY_BYTES")),
    )


@pytest.fixture
def target(db: None, webhook: Webhook, settings: Any) -> Target:
    return build_target(webhook)


def send(client: Client, request: Request) -> Any:
    """Send a case's request through Django's test client."""
    return client.generic(
        request.method,
        request.url,
        data=request.body,
        content_type=request.content_type,
        headers=request.headers,
    )
