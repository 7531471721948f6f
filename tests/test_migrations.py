"""The models and the committed migrations agree (no missing or churning migration)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"makemigrations --check found changes (exit {exc.code}):\n{out.getvalue()}")


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_deliveries_table_has_only_the_indexes_it_uses() -> None:
    """Every index is written per delivery (twice with its outcome): the dedupe key has its
    unique index and no LIKE (varchar_pattern_ops) index, which unique=True would add. The
    listener's (credential, received_at) index is partial (websocket rows only), so webhook
    deliveries write no entry in it."""
    from django.db import connection

    from django_webexteams.models import WebhookDelivery

    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, WebhookDelivery._meta.db_table)
    indexed = sorted(
        (tuple(c["columns"]), bool(c["unique"]))
        for c in found.values()
        if c["index"] or c["unique"] or c["primary_key"]
    )
    assert indexed == [
        (("credential_id", "received_at"), False),
        (("dedupe_key",), True),
        (("id",), True),
        (("status", "received_at"), False),
        (("webhook_id", "received_at"), False),
    ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_listeners_index_is_partial() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'webexteams_delivery_socket'"
        )
        (definition,) = cursor.fetchone()
    assert "WHERE" in definition and "websocket" in definition
