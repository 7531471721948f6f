"""Reference views of the ingest benchmark (served from the same gunicorn and database as the
package's receiver).

- ``bare``: returns 200 without reading anything: the ceiling of the stack (gunicorn, Django,
  its middleware).
- ``minimal``: what any receiver that keeps deliveries must do at least: an HMAC-SHA1 check of
  the raw body in constant time and one durable INSERT (autocommit: one commit, one WAL
  flush). No uuid lookup, no parsing, no dedupe, no dispatch. The floor for storing.
- ``floor``: the least that keeps the guarantees of our receiver (docs/webhooks.md): the
  same HMAC check, then what the guarantees add and nothing else: parse the JSON, a dedupe
  key over the event's fields, one ``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING`` of
  the raw body (one durable commit; a lean table, the key as 32 raw bytes), a no-op
  dispatch after that commit, and the outcome recorded in batches of 50 (one ``UPDATE``
  and one commit per batch, written by the request that fills the batch). No ORM, no
  signals, no model instances, no registration lookup: close to the least a Django
  receiver with these guarantees can cost. Our ``full-sync`` path is measured against it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

#: The minimal view's secret (the benchmark signs its bodies with it).
MINIMAL_SECRET = b"benchmark-minimal-reference-secret"
TABLE = "bench_minimal_delivery"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(id bigserial PRIMARY KEY, body bytea NOT NULL, "
    "received_at timestamptz NOT NULL DEFAULT now())"
)
FLOOR_TABLE = "bench_floor_delivery"
CREATE_FLOOR_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
    "(id bigserial PRIMARY KEY, dedupe_key bytea NOT NULL UNIQUE, body bytea NOT NULL, "
    "status text NOT NULL DEFAULT 'received', received_at timestamptz NOT NULL DEFAULT now(), "
    "processed_at timestamptz)"
)
#: Outcomes the floor view has not written yet (this process), written 50 at a time.
FLOOR_BATCH = 50
_floor_done: list[int] = []


def _signed_body(request: HttpRequest) -> bytes | None:
    """The raw body if its ``X-Spark-Signature`` is the HMAC-SHA1 of it under
    ``MINIMAL_SECRET`` (compared in constant time), else ``None``: the reference views' one
    check, the same for both."""
    body = request.body
    expected = hmac.new(MINIMAL_SECRET, body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Spark-Signature", "")):
        return None
    return body


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def minimal(request: HttpRequest) -> HttpResponse:
    body = _signed_body(request)
    if body is None:
        return HttpResponse("bad signature", status=403, content_type="text/plain")
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (body) VALUES (%s)", [body])
    return HttpResponse("ok", content_type="text/plain")


def _dispatch(payload: dict[str, Any]) -> None:
    """The floor's receiver, doing nothing (as the no-op signal receiver of the full path)."""


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    body = _signed_body(request)
    if body is None:
        return HttpResponse("bad signature", status=403, content_type="text/plain")
    try:
        payload = json.loads(body)
        data = payload["data"]
        data["id"]
    except (ValueError, TypeError, KeyError):
        return HttpResponse("bad payload", status=400, content_type="text/plain")
    event = [payload.get(k) for k in ("id", "resource", "event", "actorId")] + [data]
    key = hashlib.sha256(json.dumps(event, sort_keys=True, separators=(",", ":")).encode())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FLOOR_TABLE} (dedupe_key, body) VALUES (%s, %s) "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            [key.digest(), body],
        )
        row = cursor.fetchone()
    if row is None:
        return HttpResponse("duplicate", content_type="text/plain")
    _dispatch(payload)  # after the INSERT's commit (autocommit)
    _floor_done.append(row[0])
    if len(_floor_done) >= FLOOR_BATCH:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {FLOOR_TABLE} SET status = 'processed', processed_at = now() "
                "WHERE id = ANY(%s)",
                [list(_floor_done)],
            )
        _floor_done.clear()
    return HttpResponse("ok", content_type="text/plain")
