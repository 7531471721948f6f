"""Storing deliveries: the one INSERT ... ON CONFLICT DO NOTHING that stores a delivery and
catches a redelivery (the dedupe key is unique), and retention (``prune_deliveries``).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from django_webexteams import conf
from django_webexteams.models import Credential, PrunedDelivery, Webhook, WebhookDelivery
from django_webexteams.webhooks.dispatch import _process
from django_webexteams.webhooks.lookup import Registration, _attnames
from django_webexteams.webhooks.payload import dedupe_key
from django_webexteams.webhooks.queue import _enqueue, dispatch_mode

__all__ = [
    "accept_delivery",
    "prune_deliveries",
]

logger = logging.getLogger("django_webexteams.webhooks")


class WebhookGone(IntegrityError):
    """The delivery's webhook no longer exists (deleted after the caller looked it up):
    nothing was stored. An ``IntegrityError``, as the foreign key violation it replaces."""


_INSERT_SQL: dict[tuple[str, str], str | None] = {}


def _insert_sql(connection: Any) -> str | None:
    """``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`` for PostgreSQL and
    SQLite (3.35+); ``None`` on other backends (they take the ORM path). Built once per
    backend and table (it runs per delivery)."""
    key = (connection.vendor, WebhookDelivery._meta.db_table)
    if key not in _INSERT_SQL:
        _INSERT_SQL[key] = _build_insert_sql(connection)
    return _INSERT_SQL[key]


def _build_insert_sql(connection: Any) -> str | None:
    if connection.vendor not in ("postgresql", "sqlite"):
        return None
    if connection.vendor == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info < (3, 35):
            return None
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in _insert_fields())
    if connection.vendor == "postgresql":
        # INSERT ... SELECT: PostgreSQL types the parameters by the casts (VALUES would take
        # the columns' types; there is no assignment cast from text to jsonb).
        marks = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in _insert_fields())
    else:
        marks = ", ".join(["%s"] * len(_INSERT_FIELDS))
    pruned = qn(PrunedDelivery._meta.db_table)
    hooks = qn(Webhook._meta.db_table)
    webhook_id = "CAST(%s AS bigint)" if connection.vendor == "postgresql" else "%s"
    # Identifiers come from the model's metadata, quoted; every value is a parameter. The
    # NOT EXISTS is the replay-after-prune check (a pruned delivery's key is kept in
    # PrunedDelivery): one primary-key probe inside the same statement, no extra query.
    # The EXISTS is what a foreign key would check, without its lock on the webhook's row
    # (WebhookDelivery.webhook): a webhook deleted after this process cached it stores
    # nothing. (The WHERE also settles SQLite's INSERT ... SELECT ... ON CONFLICT parsing
    # ambiguity.)
    return (
        f"INSERT INTO {qn(WebhookDelivery._meta.db_table)} ({columns}) SELECT {marks} "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {pruned} WHERE {qn('dedupe_key')} = %s) "
        f"AND ({webhook_id} IS NULL OR EXISTS "
        f"(SELECT 1 FROM {hooks} WHERE {qn('id')} = {webhook_id})) "
        f"ON CONFLICT ({qn('dedupe_key')}) DO NOTHING RETURNING {qn('id')}"
    )


_INSERT_FIELDS = (
    "webhook",
    "credential",
    "transport",
    "dedupe_key",
    "resource",
    "event",
    "data_id",
    "actor_id",
    "payload",
    "status",
    "error",
    "traceback",
    "attempts",
    "received_at",
)


@functools.cache
def _insert_fields() -> tuple[Any, ...]:
    """The concrete fields written by :func:`_insert`, in ``_INSERT_FIELDS`` order
    (computed once, like :func:`_attnames`)."""
    by_name = {f.name: f for f in WebhookDelivery._meta.concrete_fields}
    return tuple(by_name[name] for name in _INSERT_FIELDS)


def _row(values: dict[str, Any]) -> list[Any]:
    """A delivery's ``values`` (by attname) in column order, as the model's positional
    constructor and ``from_db()`` take them."""
    return [values[name] for name in _attnames(WebhookDelivery)]


def _insert(using: str, values: dict[str, Any], text: str | None) -> int | None:
    """Write a delivery row unless its dedupe key is stored (on a delivery, or on a
    :class:`PrunedDelivery`): its primary key if this call wrote it, else ``None``.

    One statement. Outside a transaction it is its own durable commit; a duplicate (also
    one racing in from another connection: PostgreSQL waits for the other insert to commit
    or roll back) inserts nothing and raises nothing, so no savepoint is needed inside one.
    ``text``: the payload as JSON text (the verified body), stored without serialising the
    parsed payload again; ``None``: serialise ``values["payload"]``.
    """
    connection = connections[using]
    sql = _insert_sql(connection)
    if sql is None:
        # Other backends: the pruned-key and webhook checks are queries of their own.
        if PrunedDelivery.objects.using(using).filter(pk=values["dedupe_key"]).exists():
            return None
        webhook_id = values["webhook_id"]
        if (
            webhook_id is not None
            and not Webhook.objects.using(using).filter(pk=webhook_id).exists()
        ):
            raise WebhookGone(webhook_id)
        delivery = WebhookDelivery(*_row(values))
        try:
            with transaction.atomic(using=using):
                delivery.save(using=using, force_insert=True)
        except IntegrityError:
            if (
                not WebhookDelivery.objects.using(using)
                .filter(dedupe_key=values["dedupe_key"])
                .exists()
            ):
                raise
            return None
        values["received_at"] = delivery.received_at
        return int(delivery.pk)
    params = []
    for f in _insert_fields():
        if f.attname == "payload":
            # JSON text: a jsonb (PostgreSQL) or text (SQLite) column parses or keeps it;
            # what is read back is the parsed payload either way.
            params.append(text if text is not None else json.dumps(values["payload"]))
        elif f.attname == "received_at":
            params.append(f.get_db_prep_save(values["received_at"], connection))
        else:
            params.append(values[f.attname])  # str, int, None: every driver binds them as-is
    params.append(values["dedupe_key"])  # the NOT EXISTS of pruned keys
    params += [values["webhook_id"], values["webhook_id"]]  # the EXISTS of the webhook
    if _prepared_allowed(connection):
        row = _insert_prepared(connection, sql, params)
        if row is not _UNPREPARED:
            return None if row is None else int(row[0])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


#: Set once PostgreSQL (or a pooler in front of it, such as PgBouncer in transaction mode
#: before 1.21) has refused a prepared statement: this process stops preparing.
_PREPARED_REFUSED: set[str] = set()
_UNPREPARED = object()


def _prepared_allowed(connection: Any) -> bool:
    """Whether the INSERT may run as a server-side prepared statement: PostgreSQL with
    psycopg 3 and Django's default client-side binding (with ``server_side_binding`` psycopg
    prepares by itself), a persistent connection, autocommit (a refused statement can then
    be retried: inside a transaction it would abort the transaction), no ``execute_wrapper``
    and no query logging (they would be bypassed: instrumentation must see every query),
    and not switched off."""
    return (
        connection.vendor == "postgresql"
        and connection.alias not in _PREPARED_REFUSED
        and bool(conf.get("WEBHOOK_PREPARED_INSERT"))
        # A connection closed after each request (CONN_MAX_AGE = 0) would prepare per
        # delivery: an extra round trip instead of a saving.
        and connection.settings_dict.get("CONN_MAX_AGE") != 0
        and not connection.in_atomic_block
        and not connection.execute_wrappers
        and not connection.queries_logged
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
        and getattr(connection.Database, "__version__", "2").startswith("3")
    )


def _prepared_cursor(connection: Any) -> Any:
    """A server-side binding cursor on the connection's psycopg connection (Django's own
    cursors bind client-side by default, and cannot prepare)."""
    import psycopg

    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django opens psycopg connections with prepare_threshold=None, which disables
        # prepared statements altogether, even an explicit prepare=True. A threshold no
        # query reaches enables only the explicit ones: Django's own cursors bind
        # client-side and never prepare, so nothing else on the connection changes.
        raw.prepare_threshold = 2**31 - 1
    return psycopg.Cursor(raw)


def _insert_prepared(connection: Any, sql: str, params: list[Any]) -> Any:
    """Run the INSERT as a prepared statement on the connection's own psycopg connection:
    PostgreSQL parses and plans it once per connection instead of per delivery, and the
    payload is sent as a bound parameter instead of being quoted into the SQL text in
    Python (Django's client-side binding). The row, ``None`` (nothing inserted), or
    ``_UNPREPARED`` when prepared statements are refused here (then never tried again)."""
    import psycopg

    connection.ensure_connection()
    try:
        # wrap_database_errors: IntegrityError and the rest as Django's, as on the ORM path.
        with connection.wrap_database_errors, _prepared_cursor(connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchone()
    except Exception as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        if isinstance(
            cause,
            psycopg.errors.InvalidSqlStatementName | psycopg.errors.DuplicatePreparedStatement,
        ) or "prepared statement" in str(cause):
            _PREPARED_REFUSED.add(connection.alias)
            logger.warning(
                "The database refused a prepared statement (a connection pooler?); "
                "storing deliveries without one from now on"
            )
            return _UNPREPARED
        raise


def accept_delivery(
    webhook: Webhook | None,
    payload: dict[str, Any],
    *,
    own_person_id: str | None = None,
    body: str | None = None,
    credential: Credential | None = None,
    transport: str = WebhookDelivery.Transport.WEBHOOK,
    on_stored: Callable[[WebhookDelivery], Any] | None = None,
) -> tuple[WebhookDelivery, bool]:
    """Store a verified, parsed delivery and schedule its dispatch after commit.

    Returns ``(delivery, created)``. ``created`` is ``False`` for a redelivery (same
    :func:`dedupe_key`), which is not dispatched again. The unique constraint decides, also
    between two copies arriving at once: the write is ``INSERT ... ON CONFLICT DO NOTHING``
    (PostgreSQL, SQLite), and the copy that inserted nothing returns the stored row.

    Outside a transaction the INSERT is the delivery's one durable commit. ``sync`` mode then
    dispatches the row written (in memory: no re-read) with ``attempts = 1`` already stored;
    ``celery`` mode enqueues its primary key. ``own_person_id``: the receiving identity's
    person id when the caller knows it (saves a query in the own-event check). ``body``: the
    JSON text ``payload`` was parsed from (the receiver's verified body), stored as it is
    instead of serialising ``payload`` again; it must be that text.

    ``transport="websocket"`` (the listener): ``webhook`` is ``None`` and ``credential`` the
    identity the event was received as (``None``: the bot token from settings).
    ``on_stored(delivery)`` runs once the row is written and before it is dispatched, for
    new and duplicate deliveries alike (the listener acknowledges the frame there: stored,
    then acknowledged).
    """
    key = dedupe_key(payload)
    sync = dispatch_mode() == "sync"
    websocket = transport == WebhookDelivery.Transport.WEBSOCKET
    if websocket == (webhook is not None):
        raise ValueError("a websocket delivery has no webhook; a webhook delivery has one")
    using = router.db_for_write(WebhookDelivery, instance=webhook or credential)
    values = _new_row(
        key,
        payload,
        webhook_id=webhook.pk if webhook is not None else None,
        credential_id=credential.pk if websocket and credential is not None else None,
        transport=str(transport),
        sync=sync,
    )
    pk = _insert(using, values, body)
    if pk is None:
        existing = _stored_instead(using, values)
        if on_stored is not None:
            on_stored(existing)
        return existing, False
    values["id"] = pk
    # The row just written, built the way rows read from the database are (positional
    # values, no keyword handling: this runs per delivery), with the caller's webhook.
    delivery = WebhookDelivery.from_db(using, _attnames(WebhookDelivery), _row(values))
    if webhook is not None:
        WebhookDelivery._meta.get_field("webhook").set_cached_value(delivery, webhook)
    else:
        WebhookDelivery._meta.get_field("credential").set_cached_value(delivery, credential)
    if on_stored is not None:
        on_stored(delivery)
    if sync:
        callback: Callable[[], Any] = lambda: _process(delivery, own_id=own_person_id)  # noqa: E731
    else:
        callback = lambda: _enqueue(pk)  # noqa: E731
    # robust: a failure here (a broker that is down) is logged and never turns the answer to
    # Webex into a 500; the delivery then stays "received" and can be reprocessed.
    transaction.on_commit(callback, using=using, robust=True)
    return delivery, True


def accept_registered(
    registration: Registration, payload: dict[str, Any], body: str
) -> tuple[int | None, bool]:
    """The receiver's :func:`accept_delivery` for a cached ``registration``: returns the
    stored delivery's primary key (``None``: a pruned key, nothing stored) and ``created``.

    In ``celery`` mode nothing in the request needs the delivery or its webhook as model
    instances (the task gets the primary key and loads both), so none is built: two
    instances, their ``pre_init``/``post_init`` signals and the webhook's cached relation
    were a measurable share of the request (docs/benchmarks.md). What is stored, the dedupe
    and the dispatch after commit are :func:`accept_delivery`'s, through the same helpers.
    ``sync`` mode dispatches the instance in this process, so it takes
    :func:`accept_delivery` itself."""
    if dispatch_mode() == "sync" or router.routers:
        # Database routers decide on the instance hint (the webhook): give them one.
        delivery, created = accept_delivery(
            registration.webhook(),
            payload,
            own_person_id=registration.own_person_id,
            body=body,
        )
        return delivery.pk, created
    # Without routers, db_for_write(instance=webhook) is the alias the instance came from:
    # the registration's.
    using = registration.using
    values = _new_row(
        dedupe_key(payload),
        payload,
        webhook_id=registration.pk,
        credential_id=None,
        transport=WebhookDelivery.Transport.WEBHOOK.value,
        sync=False,
    )
    pk = _insert(using, values, body)
    if pk is None:
        return _stored_instead(using, values).pk, False
    # robust: as in accept_delivery, a broker that is down never makes the answer a 500.
    transaction.on_commit(lambda: _enqueue(pk), using=using, robust=True)
    return pk, True


def _new_row(
    key: str,
    payload: dict[str, Any],
    *,
    webhook_id: int | None,
    credential_id: int | None,
    transport: str,
    sync: bool,
) -> dict[str, Any]:
    """The new delivery's values by attname (``id`` still ``None``)."""
    return {
        "id": None,
        "webhook_id": webhook_id,
        "credential_id": credential_id,
        "transport": transport,
        "dedupe_key": key,
        "resource": payload["resource"],
        "event": payload["event"],
        "data_id": payload["data"]["id"],
        "actor_id": payload.get("actorId") or "",
        "payload": payload,
        "status": WebhookDelivery.Status.RECEIVED.value,
        "error": "",
        "traceback": "",
        # sync: the dispatch that follows is this delivery's first attempt; written with
        # the row so that counting it costs no extra UPDATE (and no extra commit).
        "attempts": 1 if sync else 0,
        "received_at": timezone.now(),  # what auto_now_add sets
        "processed_at": None,
    }


def _stored_instead(using: str, values: dict[str, Any]) -> WebhookDelivery:
    """Nothing was inserted for ``values``: the delivery stored under its dedupe key (a
    redelivery), else an unsaved one (a pruned key, or the other copy rolled back). Raises
    :class:`WebhookGone` when the reason was that the webhook no longer exists."""
    existing = (
        WebhookDelivery.objects.using(using)
        .filter(dedupe_key=values["dedupe_key"])
        .order_by()
        .first()
    )
    if existing is not None:
        return existing
    webhook_id = values["webhook_id"]
    if webhook_id is not None and not Webhook.objects.using(using).filter(pk=webhook_id).exists():
        # Nothing inserted because the webhook is gone (deleted after the caller looked it
        # up), not because the delivery is a duplicate.
        raise WebhookGone(webhook_id)
    return WebhookDelivery(*_row(values))


# --- retention --------------------------------------------------------------------------------


#: Deliveries deleted (and keys kept) per transaction by :func:`prune_deliveries`.
_PRUNE_BATCH = 1000


def prune_deliveries(days: int | None = None, *, dry_run: bool = False) -> int:
    """Delete deliveries received more than ``days`` (default ``DELIVERY_RETENTION_DAYS``)
    days ago; returns how many (would be) deleted. ``days <= 0`` is refused.

    Security: each deleted delivery's dedupe key is kept as a :class:`PrunedDelivery` (in
    the same transaction), so a captured body replayed after the prune is still a
    duplicate: Webex signs no timestamp, a signature never expires."""
    if days is None:
        days = int(conf.get("DELIVERY_RETENTION_DAYS"))
    if days <= 0:
        raise ValueError("days must be a positive number of days")
    cutoff = timezone.now() - timedelta(days=days)
    old = WebhookDelivery.objects.filter(received_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(old.order_by().values_list("pk", "dedupe_key")[:_PRUNE_BATCH])
            if not batch:
                return deleted
            PrunedDelivery.objects.bulk_create(
                [PrunedDelivery(dedupe_key=key) for _pk, key in batch], ignore_conflicts=True
            )
            count, _ = WebhookDelivery.objects.filter(pk__in=[pk for pk, _key in batch]).delete()
            deleted += count
