"""Reference views of the ingest benchmark (served from the same gunicorn and database as the
package's receiver).

- ``bare``: returns 200 without reading anything: the ceiling of the stack (gunicorn, Django,
  its middleware).
- ``minimal``: what any receiver that keeps deliveries must do at least: an HMAC-SHA1 check of
  the raw body in constant time and one durable INSERT (autocommit: one commit, one WAL
  flush). No uuid lookup, no parsing, no dedupe, no dispatch. The floor for storing.
"""

from __future__ import annotations

import hashlib
import hmac

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


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def minimal(request: HttpRequest) -> HttpResponse:
    body = request.body
    expected = hmac.new(MINIMAL_SECRET, body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Spark-Signature", "")):
        return HttpResponse("bad signature", status=403, content_type="text/plain")
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (body) VALUES (%s)", [body])
    return HttpResponse("ok", content_type="text/plain")
