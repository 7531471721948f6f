"""Changelists run a fixed number of queries, however many rows they show (no N+1)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_webexteams.models import Credential, OutboundMessage, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

#: Session, user, permissions, the page's own queries: well under this for every page.
MAX_QUERIES = 12


_serial = itertools.count()


def _owner(i: int) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=f"owner{i}")


def make_credentials(n: int) -> None:
    for i in itertools.islice(_serial, n):
        Credential.objects.create(
            kind="user", owner=_owner(i), webex_person_id=f"p{i}", access_token=f"token-{i:020d}"
        )


def _credential(i: int) -> Credential:
    return Credential.objects.create(kind="bot", name=f"bot {i}", access_token=f"bot-{i:020d}")


def make_webhooks(n: int) -> None:
    for i in itertools.islice(_serial, n):
        Webhook.objects.create(
            name=f"hook {i}",
            resource="messages",
            event="created",
            webex_id=f"w{i}",
            secret=f"secret-{i:020d}",
            credential=_credential(i),
        )


def make_deliveries(n: int) -> None:
    for i in itertools.islice(_serial, n):
        hook = Webhook.objects.create(
            name=f"hook {i}", resource="messages", event="created", credential=_credential(i)
        )
        WebhookDelivery.objects.create(
            webhook=hook,
            dedupe_key=f"d{i}",
            resource="messages",
            event="created",
            payload={"i": i},
        )


def make_outbound(n: int) -> None:
    for i in itertools.islice(_serial, n):
        OutboundMessage.objects.create(room_id=f"r{i}", text="hi", credential=_credential(i))


CHANGELISTS: list[tuple[str, Callable[[int], None]]] = [
    ("credential", make_credentials),
    ("webhook", make_webhooks),
    ("webhookdelivery", make_deliveries),
    ("outboundmessage", make_outbound),
]


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(("model", "make"), CHANGELISTS, ids=[m for m, _ in CHANGELISTS])
def test_changelist_queries_do_not_grow_with_rows(
    model: str,
    make: Callable[[int], None],
    su_client: Client,
    django_assert_max_num_queries: Any,
) -> None:
    url = reverse(f"admin:webexteams_{model}_changelist")
    make(2)
    with_two = _queries(su_client, url)
    make(10)  # 12 rows now, each with its related rows
    rows = su_client.get(url).context["cl"].result_list
    assert len(rows) == 12
    with django_assert_max_num_queries(MAX_QUERIES):
        su_client.get(url)
    assert _queries(su_client, url) == with_two


@pytest.mark.parametrize("page", ["admin:webexteams_spaces", "admin:webexteams_licenses"])
def test_live_pages_queries_do_not_grow_with_credentials(
    page: str,
    world: Any,
    spaces: Any,
    su_client: Client,
    superuser: Any,
    django_assert_max_num_queries: Any,
) -> None:
    url = reverse(page)
    _credential(0)
    # The staff member's own account from the start: the licenses page acts as it by
    # default (issue 15; a bot can never read licenses), which loads that one row.
    Credential.objects.create(
        kind="user", owner=superuser, webex_person_id="me0", access_token=f"t-{0:020d}"
    )
    with_one = _queries(su_client, url)
    for i in range(1, 10):
        _credential(i)
        Credential.objects.create(
            kind="user", owner=superuser, webex_person_id=f"me{i}", access_token=f"t-{i:020d}"
        )
    with django_assert_max_num_queries(MAX_QUERIES):
        response = su_client.get(url)
    assert len(response.context["choices"]) == 1 + 10 + 10
    assert _queries(su_client, url) == with_one
