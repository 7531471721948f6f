"""The delivery and outbox changelists with 100,000 deliveries on PostgreSQL.

No timing here (that belongs in benchmarks/): the checks are about what the pages ask the
database to do. No COUNT(*) over the whole table, a bounded number of queries, and a list
query that walks the primary-key index instead of sorting the table.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.paginator import EmptyPage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_webexteams.admin import EstimatedCountPaginator
from django_webexteams.models import Webhook, WebhookDelivery

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db]

ROWS = 100_000


@pytest.fixture
def many_deliveries() -> Webhook:
    webhook = Webhook.objects.create(
        name="busy", resource="messages", event="created", webex_id="w-busy"
    )
    batch = 10_000
    for start in range(0, ROWS, batch):
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                webhook=webhook,
                dedupe_key=f"k{i}",
                resource="messages",
                event="created",
                data_id=f"m{i}",
                payload={"data": {"id": f"m{i}"}},
                status="failed" if i % 1000 == 0 else "processed",
            )
            for i in range(start, start + batch)
        )
    with connection.cursor() as cursor:
        # The planner's statistics (and pg_class.reltuples) as autovacuum would leave them.
        cursor.execute("ANALYZE webexteams_webhookdelivery")
    return webhook


def _sql(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


def test_delivery_changelist_with_100k_rows(
    many_deliveries: Webhook, su_client: Client, django_assert_max_num_queries: Any
) -> None:
    url = reverse("admin:webexteams_webhookdelivery_changelist")
    with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(12):
        response = su_client.get(url)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert len(cl.result_list) == cl.list_per_page
    assert cl.result_list[0].data_id == f"m{ROWS - 1}"  # newest first
    # The estimate stands in for the count: no COUNT over the whole table.
    assert abs(cl.result_count - ROWS) < ROWS * 0.2
    assert not [s for s in _sql(ctx) if "COUNT(" in s.upper()]
    assert not [s for s in _sql(ctx) if "DISTINCT" in s.upper()]

    # A deep page still answers (an empty page if the estimate overshoots, never a 404).
    assert su_client.get(url + "?p=990").status_code == 200
    # Hostile page numbers on the estimated count: never a negative slice (a 500).
    # (Django's admin answers an invalid page with a redirect to its "?e=1" page.)
    for page in ("-1", "0", "1.5", "%", "\u00b2", str(2**70)):
        response = su_client.get(url, {"p": page})
        assert response.status_code in (200, 302), page
        if response.status_code == 302:
            assert response["Location"].endswith("?e=1"), page
    paginator = EstimatedCountPaginator(WebhookDelivery.objects.all(), 100)
    assert paginator.validate_number(10**6) == 10**6  # past the estimate: an empty page
    for bad in (-1, 0):
        with pytest.raises(EmptyPage):
            paginator.validate_number(bad)


def test_filtered_delivery_changelist_counts_only_the_filtered_rows(
    many_deliveries: Webhook, su_client: Client
) -> None:
    url = reverse("admin:webexteams_webhookdelivery_changelist") + "?status__exact=failed"
    with CaptureQueriesContext(connection) as ctx:
        response = su_client.get(url)
    assert response.context["cl"].result_count == ROWS // 1000
    counts = [s for s in _sql(ctx) if "COUNT(" in s.upper()]
    assert counts and all("WHERE" in s.upper() for s in counts)


def test_list_query_uses_the_primary_key_index(many_deliveries: Webhook) -> None:
    from django.contrib.admin import site

    model_admin = site._registry[WebhookDelivery]
    ordering = list(model_admin.ordering or ())
    qs = WebhookDelivery.objects.select_related("webhook").order_by(*ordering)[:100]
    plan = qs.explain()
    assert "Index Scan Backward" in plan, plan
    assert "Sort" not in plan.split("->")[0], plan


def test_paginator_counts_exactly_below_the_threshold(many_deliveries: Webhook) -> None:
    small = EstimatedCountPaginator(WebhookDelivery.objects.filter(status="failed"), 10)
    assert small.count == ROWS // 1000
    big = EstimatedCountPaginator(WebhookDelivery.objects.all(), 100)
    assert big.count > EstimatedCountPaginator.threshold
