"""Chaos: workers killed with SIGKILL in the middle of sending, and the broker (Redis) stopped
and restarted empty while messages are being sent and queued. Nothing may be lost; the only
duplicates allowed are the documented ones (docs/sending.md, "Duplicates").

The Redis test runs a private redis-server of its own on a free port (in memory, no
persistence, so a restart loses every queued task, the worst case): the shared Redis on 6379
serves other tests and people and is never touched.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction

from django_webexteams import messaging
from django_webexteams.models import OutboundMessage
from tests.reliability.conftest import PrivateRedis, report, wait_until

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Short broker visibility timeout, lease and countdown cap, so that what a killed worker held
#: comes back within seconds (production keeps the defaults; the mechanism is the same).
TRANSPORT = {"visibility_timeout": 6, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}


def worker_settings(bot: Any) -> dict[str, Any]:
    return {
        "BOT_TOKEN": bot.token,
        "REQUEST_TIMEOUT": [1.0, 4.0],
        "SEND_LEASE_SECONDS": 6,
        "MAX_COUNTDOWN": 3,
        "SEND_BACKOFF_BASE": 0.2,
        "SEND_BACKOFF_MAX": 2.0,
    }


def sent() -> int:
    return OutboundMessage.objects.filter(status="sent").count()


def stored_texts(fake: Any) -> Counter[str]:
    with fake.state.lock:
        return Counter(m.text for m in fake.state.messages.values())


def scene(fake: Any, label: str) -> tuple[Any, Any, list[Any]]:
    bot = fake.add_bot(f"{label} Bot")
    alice = fake.person("alice@example.com") or fake.add_person("alice@example.com", "Alice")
    room = fake.create_room(alice, label, members=[bot])
    people = [fake.add_person(f"{label.lower()}{i}@example.com", f"{label} {i}") for i in range(5)]
    return bot, room, people


def test_sigkill_two_of_three_workers_mid_send(
    celery_workers: Any, fake_webex: Any, capsys: Any
) -> None:
    fake = fake_webex
    bot, room, people = scene(fake, "Kill")
    group = celery_workers(
        fake.base_url, count=3, webexteams=worker_settings(bot),
        extra_env={"CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(TRANSPORT)},
    )  # fmt: skip
    # Every POST spends 0.1 s inside the fake: a worker is nearly always mid-send.
    fake.set_latency(0.1, path="/messages")
    n_direct, n_room = 200, 100
    with transaction.atomic():
        for i in range(n_direct):
            messaging.send_message(to_person_email=people[i % 5].email, text=f"kill direct {i}")
        for i in range(n_room):
            messaging.send_message(room_id=room.id, text=f"kill room {i}")
    total = n_direct + n_room

    def at_least(n: int) -> Callable[[], bool]:
        return lambda: sent() >= n

    kills = []
    for index, threshold in ((0, total // 4), (1, total // 2)):
        wait_until(at_least(threshold), 180, f"{threshold} sent", group.logs)
        in_flight = OutboundMessage.objects.filter(status="sending").count()
        group.kill(index)  # SIGKILL to the worker and its pool process
        kills.append((index, sent(), in_flight))
    wait_until(lambda: sent() == total, 300, "every message after the kills", group.logs)
    fake.set_latency(0)

    counts = stored_texts(fake)
    direct_dups = sum(counts[f"kill direct {i}"] - 1 for i in range(n_direct))
    room_dups = sum(counts[f"kill room {i}"] - 1 for i in range(n_room))
    attempts = Counter(OutboundMessage.objects.values_list("attempts", flat=True))
    report(capsys, f"SIGKILL: kills (worker, sent so far, rows sending) {kills}; all {total} "
                   f"sent; duplicates: direct {direct_dups}, room {room_dups}; attempts "
                   f"{dict(sorted(attempts.items()))}")  # fmt: skip
    for i in range(n_direct):
        # 1:1 spaces: the survivor finds a killed attempt's message instead of posting again.
        assert counts[f"kill direct {i}"] == 1, f"kill direct {i}"
    for i in range(n_room):
        assert 1 <= counts[f"kill room {i}"] <= 2, f"kill room {i}"
    # Each kill interrupts at most the one send its worker had in flight (concurrency 1).
    assert room_dups <= len(kills)


def test_redis_stopped_and_restarted_empty_during_sends(
    celery_workers: Any, fake_webex: Any, private_redis: PrivateRedis, capsys: Any
) -> None:
    fake = fake_webex
    bot, _room, people = scene(fake, "Redis")
    group = celery_workers(
        fake.base_url, count=2, webexteams=worker_settings(bot),
        broker_url=private_redis.url(0), cache_url=private_redis.url(1),
        extra_env={"CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(TRANSPORT)},
    )  # fmt: skip
    fake.set_latency(0.05, path="/messages")
    before_outage, during_outage = 150, 30
    with transaction.atomic():
        for i in range(before_outage):
            messaging.send_message(to_person_email=people[i % 5].email, text=f"redis {i}")
    wait_until(lambda: sent() >= 30, 120, "30 messages sent", group.logs)

    private_redis.stop()
    sent_at_stop = sent()
    # Application code keeps calling send_message while the broker is down: the row is
    # stored, enqueueing fails after the commit, and the caller must not see an error.
    for i in range(before_outage, before_outage + during_outage):
        messaging.send_message(to_person_email=people[i % 5].email, text=f"redis {i}")
    time.sleep(2)
    private_redis.start()  # empty: every task that was queued is gone
    total = before_outage + during_outage

    # The documented recovery for lost tasks (docs/sending.md, "Lost tasks"): re-enqueue rows
    # untouched for a while, as the beat task webexteams.requeue_stuck_messages does. Here
    # "a while" is 8 s (> lease + countdown cap), run every 4 s.
    requeued: list[int] = []

    def recovered() -> bool:
        if sent() == total:
            return True
        requeued.append(messaging.requeue_stuck(timedelta(seconds=8)))
        time.sleep(4)
        return sent() == total

    wait_until(recovered, 300, "every message after the Redis restart", group.logs)
    fake.set_latency(0)
    counts = stored_texts(fake)
    report(capsys, f"Redis restart: {sent_at_stop} sent when Redis stopped, {during_outage} "
                   f"queued during the outage; re-enqueued by requeue_stuck {requeued}; all "
                   f"{total} sent, stored {sum(counts[f'redis {i}'] for i in range(total))} "
                   f"times")  # fmt: skip
    for i in range(total):
        assert counts[f"redis {i}"] == 1, f"redis {i}"
