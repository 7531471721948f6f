"""Enqueueing ``webexteams.process_delivery`` on a Redis broker in one ``LPUSH``.

Why: in ``WEBHOOK_DISPATCH = "celery"`` mode the enqueue is on the receiver's hot path, and
``apply_async`` costs 600-800 us per call on a Redis broker (profiled with kombu 5.x): kombu
builds a new ``redis.Redis`` client object for each publish (about 300 us: its response
callbacks), reads the exchange's bindings back from Redis (a round trip the queue is already
known for), re-declares the queue, and Celery rebuilds the same message around a new id. The
message itself differs between two deliveries only in its task id, its delivery tag and the
delivery's primary key.

So, once per process (and again after a fork, a settings change or any error), the message
Celery and kombu would push is *captured*: a real ``apply_async`` runs with the channel's
final ``_put`` intercepted, so nothing is sent and the result is exactly what kombu would have
written, key and bytes. Each delivery then substitutes its three values into that text and
sends one ``LPUSH`` on a client kept for the process (the same connection pool and client
class kombu uses, so TLS, credentials and ``global_keyprefix`` are kombu's own).

The fast path is taken only where the copy is exact; everywhere else, and on any error, the
call is plain ``apply_async`` (its retry policy included):

- the broker is kombu's plain Redis transport (not Sentinel, not another transport), the
  queue has no ``x-expires`` and the capture put the message on exactly one queue;
- no ``before_task_publish`` / ``after_task_publish`` receivers (they could change each
  message), no ``task_send_sent_event``, not eager, not inside a worker's task (its
  parent and root ids belong in the message);
- ``WEBEXTEAMS["WEBHOOK_CELERY_FAST_PUBLISH"]`` is on (the default).

Routing (``task_routes``, ``CELERY_QUEUE``) is resolved by the capture itself, with the
delivery id as the only argument; a router that chooses a queue by the id's *value* would see
only the capture's id, and should turn the fast path off.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from celery import signals as celery_signals
from django.conf import settings as django_settings
from kombu.utils.json import dumps as kombu_dumps

from django_webexteams import conf
from django_webexteams.webhooks.batching import BATCH_MAX, BatchWriter

__all__ = ["flush", "publish", "reset", "shutdown"]

logger = logging.getLogger("django_webexteams.webhooks")

#: The primary key the capture publishes with: an integer that cannot be a real delivery's
#: and whose digits occur nowhere else in the message (checked).
_CAPTURE_PK = 918_273_645_546_372_819


@dataclass(frozen=True)
class _Template:
    """The captured message, cut where the per-delivery values go."""

    connection: Any  # the kombu connection whose channel's pool the client uses: kept
    client: Any  # kombu's client class on kombu's pool: kept for the process
    key: str  # the Redis list the message goes to (priority and prefix applied by kombu/client)
    parts: tuple[str, ...]  # the JSON text around the placeholders, in order
    slots: tuple[str, ...]  # "id", "tag", "body" or "argsrepr" for each gap between parts
    body_parts: tuple[str, str]  # the decoded body's JSON text around the primary key
    argsrepr: tuple[str, str]  # the args repr text around the primary key


_lock = threading.Lock()
_templates: dict[tuple[Any, ...], _Template | None] = {}


def reset() -> None:
    """Forget every captured message and kept client (after a fork: the message names the
    process, and a forked child must not share its parent's sockets)."""
    with _lock:
        _templates.clear()


os.register_at_fork(after_in_child=reset)


def _has_publish_hooks() -> bool:
    return bool(
        celery_signals.before_task_publish.receivers or celery_signals.after_task_publish.receivers
    )


def publish(task: Any, delivery_id: int, options: dict[str, Any]) -> None:
    """Enqueue ``task`` with the single argument ``delivery_id`` (and ``apply_async``
    ``options``, e.g. ``queue``): handed to this process's publisher thread, which sends a
    batch as one ``LPUSH`` where the copy is exact (else ``apply_async``); at once with
    ``apply_async`` where the call must happen here and now (see the module's docstring)."""
    app = task.app
    if (
        not conf.get("WEBHOOK_CELERY_FAST_PUBLISH")
        or app.conf.task_always_eager  # the task runs here, in the caller
        or _has_publish_hooks()  # they may read the caller's context (a trace id)
        or app.current_worker_task is not None  # its ids belong in the message
    ):
        task.apply_async(args=(delivery_id,), **options)
        return
    interval = _interval()
    if interval > 0:
        _publisher.add((task, repr(options), options, delivery_id), interval)
        return
    _send(task, options, [delivery_id])


def _interval() -> float:
    return float(conf.get("WEBHOOK_CELERY_PUBLISH_BATCH_SECONDS") or 0)


def _send(task: Any, options: dict[str, Any], delivery_ids: list[int]) -> None:
    """Enqueue one task per id: one ``LPUSH`` of them all where the copy is exact, else
    (and if that fails) ``apply_async`` each. Never raises: what cannot be enqueued is
    logged and stays "received" (``webexteams_deliveries reprocess``)."""
    app = task.app
    cache_key = _template_key(app, task, options)
    try:
        template = _templates[cache_key]
    except KeyError:
        template = _capture_logged(task, options)
        with _lock:
            if len(_templates) >= 64:  # bounded, whatever the settings and queues do
                _templates.clear()
            _templates[cache_key] = template
    if template is not None:
        try:
            template.client.lpush(template.key, *(_message(template, i) for i in delivery_ids))
            return
        except Exception:
            # The broker failed on the fast path: forget the kept client (it is rebuilt on
            # the next batch) and let apply_async, with its retry policy, decide.
            logger.warning("Fast publish to the Celery broker failed; using apply_async")
            with _lock:
                _templates.pop(cache_key, None)
    for delivery_id in delivery_ids:
        try:
            task.apply_async(args=(delivery_id,), **options)
        except Exception:
            logger.exception(
                "Could not enqueue webhook delivery %s; it stays 'received' "
                "(webexteams_deliveries reprocess --status received)",
                delivery_id,
            )


def _template_key(app: Any, task: Any, options: dict[str, Any]) -> tuple[Any, ...]:
    """What the captured message depends on (the broker, the default queue, exchange and
    routing, the serializer...: tests and apps may change them), cheaply. Reading those
    settings one by one through ``app.conf`` cost about 200 us (each ``get`` walks Celery's
    and Django's settings) per batch, which under light load is per delivery. Instead: a
    Celery setting changes through ``app.conf`` (its ``changes`` map, compared by value), a
    Django ``CELERY_*`` setting through ``override_settings`` (a new settings holder, kept in
    the key so that its id is not reused), the broker URL also through the environment."""
    conf = app.conf
    changes = getattr(conf, "changes", None)
    changed = repr(sorted(changes.items(), key=lambda kv: str(kv[0]))) if changes else ""
    environment = tuple(os.environ.get(name) for name in _ENVIRONMENT)
    wrapped = getattr(django_settings, "_wrapped", None)
    return (os.getpid(), id(app), task.name, repr(options), id(conf), changed, wrapped, environment)


#: The environment variables Celery reads its broker from on every access.
_ENVIRONMENT = ("CELERY_BROKER_URL", "CELERY_BROKER_WRITE_URL", "CELERY_RESULT_BACKEND")


class _Publisher(BatchWriter):
    """The deliveries this process has yet to enqueue, ``(task, options key, options,
    delivery id)``, and the thread that enqueues them (batching.py)."""

    thread_name = "webexteams-publish"
    wait_when_idle = False  # a quiet bot's delivery goes at once (batching.py)

    def __init__(self) -> None:
        super().__init__(_interval)

    def write_taken(self, taken: list[Any]) -> tuple[int, list[Any], set[str]]:
        groups: dict[tuple[str, str], tuple[Any, dict[str, Any], list[int]]] = {}
        for task, key, options, delivery_id in taken:
            groups.setdefault((task.name, key), (task, options, []))[2].append(delivery_id)
        for task, options, ids in groups.values():
            for start in range(0, len(ids), BATCH_MAX):
                _send(task, options, ids[start : start + BATCH_MAX])
        return len(taken), [], set()


_publisher = _Publisher()


def flush() -> int:
    """Enqueue what this process's publisher thread has not enqueued yet; returns how many
    (for tests and scripts that look at the queue right after a request)."""
    return _publisher.flush()


def shutdown() -> None:
    """Enqueue what is pending and stop the publisher thread (run at exit)."""
    _publisher.shutdown()


def _message(template: _Template, delivery_id: int) -> str:
    """The captured message with a new task id, delivery tag and ``delivery_id``."""
    pk = str(int(delivery_id))
    body = template.body_parts[0] + pk + template.body_parts[1]
    values = {
        "id": str(uuid.uuid4()),
        "tag": str(uuid.uuid4()),
        "body": base64.b64encode(body.encode("utf-8")).decode("ascii"),
        "argsrepr": template.argsrepr[0] + pk + template.argsrepr[1],
    }
    out = [template.parts[0]]
    for slot, part in zip(template.slots, template.parts[1:], strict=True):
        out.append(values[slot])
        out.append(part)
    return "".join(out)


def _capture_logged(task: Any, options: dict[str, Any]) -> _Template | None:
    try:
        template = _capture(task, options)
    except Exception:
        logger.warning(
            "Could not prepare the fast Celery publish; using apply_async", exc_info=True
        )
        return None
    if template is None:
        logger.debug("The Celery broker or routing does not allow the fast publish")
    return template


def _capture(task: Any, options: dict[str, Any]) -> _Template | None:
    """Run ``apply_async`` once with the channel's ``_put`` intercepted (nothing is sent)
    and cut the message it would have pushed; ``None`` where a copy would not be exact."""
    from kombu.transport import redis as kombu_redis

    app = task.app
    if app.conf.task_send_sent_event:  # a "task-sent" event per message: not a copy
        return None
    connection = app.connection_for_write()
    channel: Any = connection.default_channel
    if not _plain_redis(channel, kombu_redis.Channel):  # Sentinel, another transport
        connection.release()
        return None
    captured: list[tuple[str, dict[str, Any]]] = []

    def record(queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        # basic_publish's own flags arrive unset; anything else (a publish batch, a
        # timeout, mandatory delivery) is an option the copy would not carry.
        if any(kwargs.values()):
            raise _NotExact
        captured.append((queue, message))

    task_id = str(uuid.uuid4())
    # An instance attribute: this channel only, for this one call, removed below.
    channel._put = record
    try:
        with app.amqp.Producer(channel) as producer:
            task.apply_async(args=(_CAPTURE_PK,), task_id=task_id, producer=producer, **options)
    except _NotExact:
        return None
    finally:
        del channel._put
    if len(captured) != 1:  # fanout, several bound queues, or nothing delivered
        connection.release()
        return None
    queue, message = captured[0]
    if channel._expires and queue in channel._expires:  # the queue's expiry is refreshed
        connection.release()
        return None
    key = channel._q_for_pri(queue, channel._get_message_priority(message, reverse=False))
    client = channel._create_client()  # kombu's client class on kombu's pool; kept
    template = _cut(message, task_id, key, connection, client)
    if template is None:
        connection.release()
    return template


def _plain_redis(channel: Any, plain: type) -> bool:
    return type(channel) is plain


class _NotExact(Exception):
    pass


def _cut(
    message: dict[str, Any], task_id: str, key: str, connection: Any, client: Any
) -> _Template | None:
    properties = message["properties"]
    if properties.get("body_encoding") != "base64":
        return None
    tag = properties["delivery_tag"]
    body = base64.b64decode(message["body"]).decode("utf-8")
    pk = str(_CAPTURE_PK)
    if body.count(pk) != 1:
        return None
    headers = message.get("headers") or {}
    argsrepr = headers.get("argsrepr", "")
    if argsrepr.count(pk) > 1:
        return None
    body_marker, argsrepr_marker = "\x00body\x00", "\x00argsrepr\x00"
    shaped = {**message, "body": body_marker}
    if argsrepr:
        shaped["headers"] = {**headers, "argsrepr": argsrepr_marker}
    text = kombu_dumps(shaped)
    # The JSON text, cut at every occurrence of a value that changes per delivery. The
    # markers are JSON-escaped in the text; the id and tag are uuids, unique in it by nature.
    markers = {
        task_id: "id",
        tag: "tag",
        kombu_dumps(body_marker)[1:-1]: "body",
        kombu_dumps(argsrepr_marker)[1:-1]: "argsrepr",
    }
    pieces = re.split("(" + "|".join(re.escape(m) for m in markers) + ")", text)
    parts, slots = tuple(pieces[0::2]), tuple(markers[m] for m in pieces[1::2])
    if pk in "".join(parts) or slots.count("body") != 1 or slots.count("tag") != 1:
        return None
    before, after = body.split(pk)
    a_before, _, a_after = argsrepr.partition(pk) if argsrepr else ("", "", "")
    return _Template(
        connection=connection,
        client=client,
        key=key,
        parts=parts,
        slots=slots,
        body_parts=(before, after),
        argsrepr=(a_before, a_after),
    )
