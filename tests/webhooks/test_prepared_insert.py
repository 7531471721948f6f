"""The receiver's INSERT as a server-side prepared statement (PostgreSQL, psycopg 3,
autocommit; ``WEBHOOK_PREPARED_INSERT``): what is stored is the same, a deleted webhook is
still a 404, a pooler that refuses prepared statements turns it off for the process, and
anything that must see the query (``assertNumQueries``, DEBUG, an execute wrapper, an open
transaction) gets Django's cursor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_webexteams.models import WebhookDelivery
from django_webexteams.webhooks import store
from tests.webhooks.cases import encode, payload, signed
from tests.webhooks.conftest import make_webhook, receiver_path, send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _persistent(monkeypatch: Any) -> Iterator[None]:
    """Persistent connections, as in production (with CONN_MAX_AGE = 0 nothing is
    prepared: the connection would not outlive the request)."""
    store._PREPARED_REFUSED.clear()
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    connection.close()  # reopened with the setting above
    yield
    connection.close()
    store._PREPARED_REFUSED.clear()


class Refusing:
    """A prepared-statement cursor that raises ``error`` (a pooler's answer)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, _connection: Any) -> Refusing:
        return self

    def __enter__(self) -> Refusing:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def execute(self, *args: Any, **kwargs: Any) -> None:
        raise self.error


def deliver(client: Client, webhook: Any, **overrides: Any) -> Any:
    body = encode(payload(webhook.webex_id, **overrides))
    return send(client, signed(receiver_path(webhook.uuid), webhook.secret, body))


def prepared_inserts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall() if row[0].lstrip().startswith("INSERT")]


def test_a_delivery_is_stored_by_a_prepared_statement_and_reads_back_the_same() -> None:
    webhook = make_webhook()
    client = Client()
    for actor in ("alice", "bob"):
        assert deliver(client, webhook, actorId=actor).content == b"ok"
    assert deliver(client, webhook, actorId="bob").content == b"duplicate"
    (statement,) = prepared_inserts()  # prepared once on this connection, used three times
    assert WebhookDelivery._meta.db_table in statement
    stored = WebhookDelivery.objects.get(actor_id="bob")
    assert stored.payload["actorId"] == "bob" and stored.payload["data"]["id"]
    with connection.cursor() as cursor:  # stored as jsonb, not as a JSON string
        cursor.execute(
            f"SELECT jsonb_typeof(payload) FROM {WebhookDelivery._meta.db_table} WHERE id = %s",
            [stored.pk],
        )
        assert cursor.fetchone()[0] == "object"
    assert WebhookDelivery.objects.count() == 2


def test_a_webhook_deleted_meanwhile_is_still_a_404() -> None:
    """The prepared INSERT's existence check of the webhook stores nothing; the receiver
    answers 404, as on the plain path."""
    webhook = make_webhook()
    client = Client()
    deliver(client, webhook, actorId="warm-up")  # cached by this process
    type(webhook).objects.filter(pk=webhook.pk).delete()  # QuerySet.delete: no signal
    from django_webexteams.webhooks import lookup

    with mock.patch.object(lookup, "_shared_generation", return_value=None):
        response = deliver(client, webhook, actorId="late")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.InvalidSqlStatementName('prepared statement "_pg3_0" does not exist'),
        psycopg.errors.DuplicatePreparedStatement('prepared statement "_pg3_0" already exists'),
    ],
)
def test_a_pooler_that_refuses_prepared_statements_turns_them_off(
    error: Exception, caplog: Any
) -> None:
    webhook = make_webhook()
    client = Client()
    with mock.patch.object(store, "_prepared_cursor", Refusing(error)):
        assert deliver(client, webhook, actorId="first").content == b"ok"
    assert "refused a prepared statement" in caplog.text
    assert connection.alias in store._PREPARED_REFUSED
    with mock.patch.object(store, "_prepared_cursor", Refusing(AssertionError("prepared"))):
        assert deliver(client, webhook, actorId="second").content == b"ok"
    assert set(WebhookDelivery.objects.values_list("actor_id", flat=True)) == {"first", "second"}


def test_another_database_error_is_not_mistaken_for_a_refusal() -> None:
    webhook = make_webhook()
    with (
        mock.patch.object(store, "_prepared_cursor", Refusing(psycopg.OperationalError("x"))),
        pytest.raises(Exception, match="x"),
    ):
        deliver(Client(raise_request_exception=True), webhook)
    assert not store._PREPARED_REFUSED


@pytest.mark.parametrize("why", ["captured", "execute wrapper", "setting off", "transaction"])
def test_where_the_query_must_be_seen_django_runs_it(why: str, settings: Any) -> None:
    webhook = make_webhook()
    client = Client()
    deliver(client, webhook, actorId="warm-up")
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with mock.patch.object(store, "_prepared_cursor", Refusing(AssertionError("prepared"))):
        if why == "captured":
            with CaptureQueriesContext(connection) as queries:
                deliver(client, webhook, actorId="x")
            seen = [q["sql"] for q in queries.captured_queries]
        elif why == "execute wrapper":
            with connection.execute_wrapper(wrapper):
                deliver(client, webhook, actorId="x")
        elif why == "setting off":
            settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_PREPARED_INSERT": False}
            with CaptureQueriesContext(connection) as queries:
                deliver(client, webhook, actorId="x")
        else:
            from django.db import transaction

            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                deliver(client, webhook, actorId="x")
            seen = [q["sql"] for q in queries.captured_queries]
    assert WebhookDelivery.objects.filter(actor_id="x").exists()
    if why in ("captured", "execute wrapper", "transaction"):
        assert any(sql.lstrip().startswith("INSERT") for sql in seen)
