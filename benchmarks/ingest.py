"""Benchmark 1: webhook ingest under load, against a ceiling and a floor on the same server.

gunicorn (2 sync workers) serves :mod:`benchmarks.urls` with the benchmark's PostgreSQL
database. ``wrk`` posts unique, correctly signed deliveries (``post_bodies.lua`` cycles
through bodies pre-signed by this module: HMAC-SHA1 in wrk's Lua is impractical) to:

- ``bare``: a Django view that returns 200 (the ceiling of the stack);
- ``minimal``: HMAC check + one durable INSERT (the floor for storing a delivery);
- ``floor``: the least a receiver with our guarantees does (parse, dedupe insert, no-op
  dispatch after commit, outcomes in batches; :mod:`benchmarks.views`), in plain SQL: what
  any implementation of those guarantees costs at least;
- ``full-sync``: the package's receiver, ``WEBHOOK_DISPATCH = "sync"``: uuid lookup,
  signature check, parse, dedupe insert, then (after commit, in the request) dispatch to a
  no-op signal receiver and the delivery's status update;
- ``full-celery``: the same receiver with ``WEBHOOK_DISPATCH = "celery"``: dispatch is an
  enqueue to Redis (no worker consumes the queue during the run; it is deleted afterwards).

Per run: requests/s, p50/p90/p99 latency (wrk's), and database transactions committed per
delivery (``pg_stat_database.xact_commit`` delta over the run / requests answered; every
autocommit statement counts, reads included, so the writing commits are reported apart from
the package's own statement count). Runs alternate between variants; each variant's figure is
the median of its runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    free_port,
    log,
    median,
    process,
    python,
    wait_for_port,
    write_result,
)

NAME = "ingest"
LUA = ROOT / "benchmarks" / "post_bodies.lua"
VARIANTS = ("bare", "minimal", "floor", "full-sync", "full-celery")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)


def setup_django() -> None:
    """Configure Django in this process with the benchmark settings (once)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ.setdefault("BENCH_DATABASE_URL", database_url())
    import django
    from django.conf import settings

    if not settings.configured or not hasattr(settings, "_bench_ready"):
        django.setup()


def ensure_database() -> None:
    """Create the benchmark database if it does not exist, and migrate it."""
    import psycopg

    url = database_url()
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings", "BENCH_DATABASE_URL": url}
    subprocess.run(
        [python(), "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def xact_commit() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def _payload(webex_id: str, n: int, run: str) -> bytes:
    """A realistic messages:created delivery (shape from the Webex webhooks guide), unique
    per ``(run, n)`` through ``data.id``."""
    body = {
        "id": webex_id,
        "name": "Benchmark webhook",
        "targetUrl": "https://bench.example.com/webex/webhooks/00000000-0000-0000-0000-000000000000/",
        "resource": "messages",
        "event": "created",
        "orgId": "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9iZW5jaA",
        "createdBy": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q",
        "appId": "Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL2JlbmNo",
        "ownedBy": "creator",
        "status": "active",
        "created": "2026-11-28T08:00:00.000Z",
        "actorId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbGljZQ",
        "data": {
            "id": f"Y2lzY29zcGFyazovL3VzL01FU1NBR0Uv{run}-{n:08d}",
            "roomId": "Y2lzY29zcGFyazovL3VzL1JPT00vYmVuY2g",
            "roomType": "group",
            "personId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9hbGljZQ",
            "personEmail": "alice@example.com",
            "created": "2026-11-28T08:01:02.345Z",
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def write_bodies(
    path: Path, secret: bytes, webex_id: str, count: int, run: str
) -> list[tuple[str, bytes]]:
    import hashlib
    import hmac

    lines = []
    with path.open("wb") as fh:
        for n in range(count):
            body = _payload(webex_id, n, run)
            signature = hmac.new(secret, body, hashlib.sha1).hexdigest()
            fh.write(signature.encode() + b"\t" + body + b"\n")
            lines.append((signature, body))
    return lines


def run_wrk(
    url: str, bodies: Path, duration: float, threads: int, connections: int
) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    env = {
        **os.environ,
        "BENCH_BODIES": str(bodies),
        "BENCH_THREADS": str(threads),
        "BENCH_PATH": re.sub(r"^https?://[^/]+", "", url),
    }
    out = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",  # wrk takes whole seconds
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return dict(json.loads(line[len("WRKJSON ") :]))
    raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def warm_up(url: str, lines: list[tuple[str, bytes]]) -> int:
    """A few requests through each gunicorn worker (imports, URLconf, DB connection)."""
    import requests

    with requests.Session() as session:
        for signature, body in lines:
            response = session.post(
                url,
                data=body,
                timeout=30,
                headers={"Content-Type": "application/json", "X-Spark-Signature": signature},
            )
            response.raise_for_status()
    return len(lines)


def run(
    duration: float = 10.0,
    rounds: int = 5,
    bodies: int = 60_000,
    connections: int = 4,
    threads: int = 2,
    workers: int = 2,
    variants: tuple[str, ...] = VARIANTS,
) -> dict[str, Any]:
    import redis

    ensure_database()
    setup_django()
    from django.db import connection

    from benchmarks.views import (
        CREATE_FLOOR_TABLE,
        CREATE_TABLE,
        FLOOR_TABLE,
        MINIMAL_SECRET,
        TABLE,
    )
    from django_webexteams.models import Credential, Webhook, WebhookDelivery

    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
        cursor.execute(CREATE_FLOOR_TABLE)
    Webhook.objects.filter(name="Benchmark webhook").delete()
    Credential.objects.filter(name="Benchmark bot").delete()
    bot = Credential.objects.create(
        kind=Credential.Kind.BOT,
        name="Benchmark bot",
        access_token="bench-token-" + "x" * 40,
        webex_person_id="Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ib3Q",
        email="bench@webex.bot",
    )
    webhook = Webhook.objects.create(
        name="Benchmark webhook",
        resource="messages",
        event="created",
        webex_id=f"bench-{uuid.uuid4().hex}",
        secret="bench-secret-" + uuid.uuid4().hex,
        target_url="https://bench.example.com/",
        credential=bot,
    )
    assert webhook.webex_id is not None

    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    queue = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(redis_url)

    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for variant in order:
            tag = f"{variant}-{r}-{uuid.uuid4().hex[:6]}"
            full = variant.startswith("full")
            secret = webhook.secret.encode() if full else MINIMAL_SECRET
            body_file = work / "bodies.txt"
            write_bodies(body_file, secret, webhook.webex_id, bodies, tag)
            warm = [
                (s, b)
                for s, b in write_bodies(work / "warm.txt", secret, webhook.webex_id, 20, tag + "w")
            ]
            # Every variant starts from an empty table of its own, the same way: a DELETE
            # would leave the deliveries table and its indexes bloated with the dead rows of
            # earlier runs (it reached 900 MB), while the reference table starts fresh.
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {TABLE}")
                cursor.execute(f"TRUNCATE {FLOOR_TABLE}")
                cursor.execute(f"TRUNCATE {WebhookDelivery._meta.db_table}")
            port = free_port()
            path = {
                "bare": "/bench/bare/",
                "minimal": "/bench/minimal/",
                "floor": "/bench/floor/",
            }.get(variant, f"/webex/webhooks/{webhook.uuid}/")
            url = f"http://127.0.0.1:{port}{path}"
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
                "BENCH_DATABASE_URL": database_url(),
                "WEBEX_WEBHOOK_DISPATCH": "celery" if variant == "full-celery" else "sync",
                "CELERY_BROKER_URL": redis_url,
                "CELERY_TASK_DEFAULT_QUEUE": queue,
                "PYTHONPATH": str(ROOT),
            }
            connection.close()
            before = xact_commit()
            cmd = [
                python(),
                "-m",
                "gunicorn",
                "testproject.wsgi:application",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ]
            with process(cmd, env=env, log=work / f"gunicorn-{variant}.log") as proc:
                wait_for_port(port, proc=proc)
                warmed = warm_up(url, warm)
                result = run_wrk(url, body_file, duration, threads, connections)
            time.sleep(0.5)  # backends flush their statistics when they exit
            connection.close()
            after = xact_commit() - 1  # our own "before" query's transaction
            answered = result["requests"] + warmed
            result["warmup_requests"] = warmed
            result["requests_per_second"] = result["requests"] / (result["duration_us"] / 1e6)
            result["xact_commit_delta"] = after - before
            result["commits_per_request"] = (after - before) / answered if answered else None
            if full:
                stored = WebhookDelivery.objects.filter(webhook=webhook).count()
                processed = WebhookDelivery.objects.filter(
                    webhook=webhook, status=WebhookDelivery.Status.PROCESSED
                ).count()
                result["stored"] = stored
                result["processed"] = processed
            elif variant == "minimal":
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM {TABLE}")
                    result["stored"] = int(cursor.fetchone()[0])
            elif variant == "floor":
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT count(*), count(*) FILTER (WHERE status = 'processed') "
                        f"FROM {FLOOR_TABLE}"
                    )
                    stored, processed = cursor.fetchone()
                    result["stored"], result["processed"] = int(stored), int(processed)
            if variant == "full-celery":
                result["enqueued"] = int(broker.llen(queue))
                broker.delete(queue)
            if result.get("stored"):
                # wrk stops counting with a request per connection still in flight, which the
                # server finishes (and commits): divide by what was actually stored.
                result["commits_per_request"] = (after - before) / max(answered, result["stored"])
            runs[variant].append(result)
            log(
                f"ingest: {variant}: {result['requests_per_second']:.0f} req/s, p50 "
                f"{result['latency_p50_us'] / 1000:.1f} ms, "
                f"p99 {result['latency_p99_us'] / 1000:.1f} ms, "
                f"{result['commits_per_request']:.2f} commits/req, "
                f"non-2xx {result['errors_status']}, "
                f"wraps {result['wraps']}"
            )
    broker.delete(queue)
    summary: dict[str, Any] = {}
    for variant, items in runs.items():
        summary[variant] = {
            "requests_per_second": median([i["requests_per_second"] for i in items]),
            "latency_p50_ms": median([i["latency_p50_us"] / 1000 for i in items]),
            "latency_p99_ms": median([i["latency_p99_us"] / 1000 for i in items]),
            "commits_per_request": median([i["commits_per_request"] for i in items]),
            "non_2xx": sum(i["errors_status"] for i in items),
            "socket_errors": sum(
                i["errors_connect"] + i["errors_read"] + i["errors_write"] + i["errors_timeout"]
                for i in items
            ),
            "wraps": sum(i["wraps"] for i in items),
        }
    ratios: dict[str, Any] = {}
    if "minimal" in summary and "bare" in summary:
        ratios["minimal_over_bare"] = (
            summary["minimal"]["requests_per_second"] / summary["bare"]["requests_per_second"]
        )
    if "floor" in summary and "minimal" in summary:
        ratios["floor_over_minimal"] = (
            summary["floor"]["requests_per_second"] / summary["minimal"]["requests_per_second"]
        )
    if "full-sync" in summary and "floor" in summary:
        ratios["full-sync_over_floor"] = (
            summary["full-sync"]["requests_per_second"] / summary["floor"]["requests_per_second"]
        )
    for variant in ("full-sync", "full-celery"):
        if variant in summary and "minimal" in summary:
            ratios[f"{variant}_over_minimal"] = (
                summary[variant]["requests_per_second"] / summary["minimal"]["requests_per_second"]
            )
        if variant in summary and "bare" in summary:
            ratios[f"{variant}_over_bare"] = (
                summary[variant]["requests_per_second"] / summary["bare"]["requests_per_second"]
            )
    # Paired per round: the variants of one round ran back to back, so a machine that drifts
    # between rounds (a shared host) moves both sides of these ratios alike.
    per_round: dict[str, list[float]] = {}
    for variant, ref in (
        ("floor", "minimal"),
        ("full-sync", "floor"),
        ("full-sync", "minimal"),
        ("full-celery", "minimal"),
    ):
        if variant in runs and ref in runs:
            per_round[f"{variant}_over_{ref}"] = [
                a["requests_per_second"] / b["requests_per_second"]
                for a, b in zip(runs[variant], runs[ref], strict=True)
            ]
    result_doc = {
        "duration_seconds": duration,
        "rounds": rounds,
        "gunicorn_workers": workers,
        "wrk": {"threads": threads, "connections": connections},
        "load_generator": "wrk + benchmarks/post_bodies.lua over pre-signed unique bodies",
        "summary": summary,
        "ratios": ratios,
        "ratios_per_round": per_round,
        "runs": runs,
        "goal": "full path >= 0.8 x minimal reference",
        "goal_met": {
            v: ratios.get(f"{v}_over_minimal", 0) >= 0.8
            for v in ("full-sync", "full-celery")
            if v in summary
        },
    }
    write_result(NAME, result_doc)
    return result_doc
