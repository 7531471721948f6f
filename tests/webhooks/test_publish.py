"""The fast Celery publish (django_webexteams/webhooks/publish.py) against a real Redis: the
message it pushes is the one ``apply_async`` pushes, a batch is one LPUSH in order, a worker
runs it, and every case where a copy would not be exact goes through ``apply_async``."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import redis
from celery import signals as celery_signals
from django.test import Client

from django_webexteams.models import WebhookDelivery
from django_webexteams.webhooks import publish
from django_webexteams.webhooks.queue import process_delivery_task
from tests.celery_workers import _drop_broker_pools
from tests.conftest import redis_url
from tests.webhooks.cases import Target

BROKER = redis_url(12)


@pytest.fixture
def broker(settings: Any) -> Iterator[tuple[redis.Redis, str]]:
    """This process's Celery app on a real Redis broker, a queue of the test's own."""
    from testproject.celery import app

    saved = {k: app.conf.get(k) for k in ("broker_url", "task_always_eager")}
    app.conf["broker_url"] = BROKER
    app.conf.task_always_eager = False
    _drop_broker_pools(app)
    publish.reset()
    queue = f"pub-{uuid.uuid4().hex[:10]}"
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_DISPATCH": "celery",
                           "CELERY_QUEUE": queue}  # fmt: skip
    client = redis.Redis.from_url(BROKER)
    try:
        yield client, queue
    finally:
        publish.shutdown()
        client.delete(queue)
        for key, value in saved.items():
            app.conf[key] = value
        _drop_broker_pools(app)
        publish.reset()


def _decoded(raw: Any) -> dict[str, Any]:
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return dict(message)


def _without_ids(message: dict[str, Any]) -> dict[str, Any]:
    """The message with what differs between any two publishes (task id, delivery tag)
    blanked."""
    out = json.loads(json.dumps(message))
    task_id = out["headers"]["id"]
    for section in (out["headers"], out["properties"]):
        for key, value in list(section.items()):
            if value == task_id:
                section[key] = "<id>"
    out["properties"]["delivery_tag"] = "<tag>"
    return dict(out)


def test_the_message_is_the_one_apply_async_sends(broker: tuple[redis.Redis, str]) -> None:
    client, queue = broker
    process_delivery_task.apply_async(args=(4242,), queue=queue)
    by_celery = _decoded(client.rpop(queue))
    publish._send(process_delivery_task, {"queue": queue}, [4242])
    ours = _decoded(client.rpop(queue))
    assert client.llen(queue) == 0
    assert ours["body"][0] == [4242] and ours["headers"]["argsrepr"] == "(4242,)"
    # Same thread, same process: the whole message but its ids is identical.
    assert _without_ids(ours) == _without_ids(by_celery)
    assert ours["headers"]["id"] != by_celery["headers"]["id"]
    assert ours["properties"]["correlation_id"] == ours["headers"]["id"]
    assert ours["properties"]["delivery_tag"] != by_celery["properties"]["delivery_tag"]


def test_a_batch_is_one_lpush_in_order_with_fresh_ids(
    broker: tuple[redis.Redis, str], settings: Any
) -> None:
    client, queue = broker
    # A long interval: after a batch, the thread waits for it (the batch is not full), so
    # flush() sends what came meanwhile.
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CELERY_PUBLISH_BATCH_SECONDS": 3600}
    publish.publish(process_delivery_task, 999, {"queue": queue})
    publish.flush()
    client.delete(queue)
    ids = list(range(1, 51))
    for pk in ids:
        publish.publish(process_delivery_task, pk, {"queue": queue})
    sent: list[tuple[Any, ...]] = []
    real_lpush = redis.Redis.lpush

    def lpush(self: Any, name: str, *values: Any) -> Any:
        sent.append((name, len(values)))
        return real_lpush(self, name, *values)

    assert client.llen(queue) == 0  # pending in this process, not sent yet
    with mock.patch.object(redis.Redis, "lpush", lpush):
        assert publish.flush() == len(ids)
    assert sent == [(queue, len(ids))]  # one command, one round trip
    messages = [_decoded(raw) for raw in reversed(client.lrange(queue, 0, -1))]
    assert [m["body"][0][0] for m in messages] == ids  # what a worker's BRPOP takes first
    assert len({m["headers"]["id"] for m in messages}) == len(ids)
    assert len({m["properties"]["delivery_tag"] for m in messages}) == len(ids)


def test_a_delivery_is_enqueued_after_its_commit_without_apply_async(
    broker: tuple[redis.Redis, str],
    target: Target,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tests.webhooks.test_dispatch import deliver

    redis_client, queue = broker
    real = process_delivery_task.apply_async
    with mock.patch.object(process_delivery_task, "apply_async", wraps=real) as apply_async:
        assert deliver(client, target, django_capture_on_commit_callbacks).status_code == 200
        publish.flush()
    # One call: the capture (its producer's channel intercepted, nothing sent).
    assert [sorted(c.kwargs) for c in apply_async.call_args_list] == [
        ["args", "producer", "queue", "task_id"]
    ]
    delivery = WebhookDelivery.objects.get()
    (raw,) = redis_client.lrange(queue, 0, -1)
    message = _decoded(raw)
    assert message["headers"]["task"] == "webexteams.process_delivery"
    assert message["body"][0] == [delivery.pk]
    assert message["properties"]["delivery_info"]["routing_key"] == queue


@pytest.mark.parametrize(
    "why",
    ["setting off", "eager", "publish hook", "in a worker's task", "another broker"],
)
def test_where_a_copy_would_not_be_exact_apply_async_runs_in_the_caller(
    broker: tuple[redis.Redis, str], settings: Any, why: str
) -> None:
    from testproject.celery import app

    _, queue = broker
    calls: list[Any] = []

    def hook(**kwargs: Any) -> None:
        calls.append("hook")

    patches: list[Any] = []
    if why == "setting off":
        settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CELERY_FAST_PUBLISH": False}
    elif why == "eager":
        app.conf.task_always_eager = True  # the broker fixture restores it
    elif why == "publish hook":
        celery_signals.before_task_publish.connect(hook)
    elif why == "in a worker's task":
        patches.append(
            mock.patch.object(type(app), "current_worker_task", mock.PropertyMock(return_value=1))
        )
    for p in patches:
        p.start()
    try:
        with mock.patch.object(process_delivery_task, "apply_async") as apply_async:
            if why == "another broker":
                app.conf["broker_url"] = "memory://"
                _drop_broker_pools(app)
                publish.publish(process_delivery_task, 7, {"queue": queue})
                publish.flush()  # the thread tries, finds no Redis channel, uses apply_async
            else:
                publish.publish(process_delivery_task, 7, {"queue": queue})
                assert publish._publisher.pending() == 0  # called here, not in the thread
    finally:
        for p in patches:
            p.stop()
        celery_signals.before_task_publish.disconnect(hook)
    apply_async.assert_called_once_with(args=(7,), queue=queue)


def test_a_broker_error_falls_back_to_apply_async_and_recaptures(
    broker: tuple[redis.Redis, str],
) -> None:
    client, queue = broker
    publish._send(process_delivery_task, {"queue": queue}, [1])
    assert client.llen(queue) == 1
    (template,) = [t for t in publish._templates.values() if t is not None]
    with (
        mock.patch.object(template.client, "lpush", side_effect=redis.ConnectionError("gone")),
        mock.patch.object(process_delivery_task, "apply_async") as apply_async,
    ):
        publish._send(process_delivery_task, {"queue": queue}, [2, 3])
    assert [c.kwargs["args"] for c in apply_async.call_args_list] == [(2,), (3,)]
    assert not [t for t in publish._templates.values() if t is not None]  # dropped
    publish._send(process_delivery_task, {"queue": queue}, [4])  # captured again
    assert [_decoded(r)["body"][0][0] for r in reversed(client.lrange(queue, 0, -1))] == [1, 4]


def test_nothing_enqueued_is_lost_when_apply_async_fails_too(
    broker: tuple[redis.Redis, str], caplog: Any
) -> None:
    _, queue = broker
    no_template = mock.patch.object(publish, "_capture", return_value=None)
    with (
        no_template,
        mock.patch.object(process_delivery_task, "apply_async", side_effect=OSError("down")),
    ):
        publish._send(process_delivery_task, {"queue": queue}, [9])
    assert "Could not enqueue webhook delivery 9" in caplog.text
    assert "reprocess" in caplog.text


def test_a_settings_change_is_a_new_capture(broker: tuple[redis.Redis, str]) -> None:
    """The test suite's workers change the default queue between tests: a message captured
    for the old one must not be reused."""
    from testproject.celery import app

    client, _ = broker
    saved = app.conf.task_default_queue
    try:
        for name in ("pub-a-" + uuid.uuid4().hex[:6], "pub-b-" + uuid.uuid4().hex[:6]):
            app.conf.task_default_queue = name
            publish._send(process_delivery_task, {}, [5])
            assert client.llen(name) == 1
            client.delete(name)
    finally:
        app.conf.task_default_queue = saved


def test_after_a_quiet_spell_a_delivery_is_pushed_at_once(
    broker: tuple[redis.Redis, str], settings: Any
) -> None:
    """The batching pays only under load: a quiet bot's delivery does not wait for the
    interval (an hour here); one arriving right after a push waits for the next batch."""
    client, queue = broker
    settings.WEBEXTEAMS = {**settings.WEBEXTEAMS, "WEBHOOK_CELERY_PUBLISH_BATCH_SECONDS": 3600}
    publish.publish(process_delivery_task, 1, {"queue": queue})
    deadline = time.monotonic() + 30
    while client.llen(queue) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.llen(queue) == 1  # pushed by the thread, no flush()
    publish.publish(process_delivery_task, 2, {"queue": queue})
    time.sleep(0.2)  # the thread had time to push it, were it not waiting for the interval
    assert client.llen(queue) == 1 and publish._publisher.pending() == 1
    assert publish.flush() == 1 and client.llen(queue) == 2


def test_a_django_settings_change_is_a_new_capture(broker: tuple[redis.Redis, str]) -> None:
    """``CELERY_*`` Django settings reach Celery's configuration live: an
    ``override_settings`` (the ``settings`` fixture) of the default queue must not reuse the
    message captured for the old one."""
    from django.test.utils import override_settings

    from testproject.celery import app

    client, _ = broker
    changes = app.conf.changes
    assert changes is not None
    saved = changes.pop("task_default_queue", None)  # else it hides the setting
    try:
        for name in ("pub-c-" + uuid.uuid4().hex[:6], "pub-d-" + uuid.uuid4().hex[:6]):
            with override_settings(CELERY_TASK_DEFAULT_QUEUE=name):
                assert app.conf.task_default_queue == name  # what the capture will read
                publish._send(process_delivery_task, {}, [6])
            assert client.llen(name) == 1
            client.delete(name)
    finally:
        if saved is not None:
            changes["task_default_queue"] = saved


def test_a_broker_url_in_the_environment_is_a_new_capture(
    broker: tuple[redis.Redis, str], monkeypatch: Any
) -> None:
    """Celery reads ``CELERY_BROKER_URL`` from the environment on every access."""
    client, queue = broker
    publish._send(process_delivery_task, {"queue": queue}, [7])
    assert client.llen(queue) == 1
    other = redis_url(13)
    monkeypatch.setenv("CELERY_BROKER_URL", other)
    elsewhere = redis.Redis.from_url(other)
    try:
        publish._send(process_delivery_task, {"queue": queue}, [8])
        assert client.llen(queue) == 1 and elsewhere.llen(queue) == 1
    finally:
        elsewhere.delete(queue)


def test_a_forked_child_captures_its_own_message(broker: tuple[redis.Redis, str]) -> None:
    """The message names its process (``origin``) and the kept client holds sockets: a
    forked child (gunicorn preload, Celery prefork) starts from nothing."""
    _, queue = broker
    publish._send(process_delivery_task, {"queue": queue}, [1])
    assert any(t is not None for t in publish._templates.values())
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if it holds no parent's template
        os._exit(0 if not publish._templates else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
