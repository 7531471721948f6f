"""The webhook receiver at ``webexteams:webhook`` (``webhooks/<uuid>/``).

Order of checks, each answered before the next step runs (docs/webhooks.md, "Security"):

1. method is POST, else 405;
2. a declared ``Content-Length`` above ``WEBHOOK_MAX_BODY_BYTES``: 413, nothing read;
3. the uuid names an active registration, else 404 (the uuid picks the secret before the
   body is trusted, as dj-stripe does per endpoint); the registration comes from a
   per-process cache (``WEBHOOK_CACHE_SECONDS``) that is re-read from the database before
   any signature is rejected, so a rotated secret works at once;
4. the body, read from the stream up to the cap + 1 byte (more: 413);
5. ``X-Spark-Signature`` verified on the raw bytes in constant time: missing, malformed or
   wrong, or no secret stored, all 403 - nothing has been parsed or written yet;
6. JSON parsed and checked (``resource``, ``event``, ``data.id``; ``id`` must be this
   registration's ``webex_id``), else 400;
7. the delivery stored under its dedupe key and dispatched after commit: 200 (also for a
   redelivery, which is not dispatched again).

Nothing in the response or the log contains the body, the secret or the signature.
"""

from __future__ import annotations

import logging
import re
import uuid as uuid_module

from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt

from django_webexteams import conf
from django_webexteams.client import verify_signature
from django_webexteams.webhooks.lookup import (
    Registration,
    forget_registrations,
    lookup_registration,
)
from django_webexteams.webhooks.payload import InvalidPayloadError, parse_payload
from django_webexteams.webhooks.store import accept_registered

__all__ = ["receive"]

logger = logging.getLogger("django_webexteams.webhooks")

# Webex sends the lowercase hex HMAC-SHA1 (40 characters) of the raw body. Anything else is
# rejected before computing an HMAC; case is normalised so a proxy upper-casing it is harmless.
_SIGNATURE = re.compile(r"[0-9a-fA-F]{40}")


def _answer(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _reject(status: int, hook: uuid_module.UUID, reason: str) -> HttpResponse:
    # The reason is one of our fixed strings: never the body, the signature or the secret.
    logger.warning("Rejected webhook delivery for %s: %s", hook, reason)
    if status == 403:
        # One answer for every authentication failure (no secret, missing, malformed or
        # wrong signature): a prober learns nothing about which check failed. The log says.
        return _answer(403, "invalid signature")
    return _answer(status, reason)


# CSRF protection does not apply: Webex cannot hold a CSRF token. The request is
# authenticated by the HMAC signature over the raw body instead, checked below before
# anything is parsed or stored. Only this view is exempt.
@csrf_exempt
def receive(request: HttpRequest, uuid: uuid_module.UUID) -> HttpResponse:
    """Accept one Webex webhook delivery for the registration ``uuid``."""
    if request.method != "POST":
        response = _answer(405, "POST only")
        response["Allow"] = "POST"
        return response

    cap = int(conf.get("WEBHOOK_MAX_BODY_BYTES"))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0  # Django then reads nothing; the empty body fails the signature check.
    if declared > cap:
        return _reject(413, uuid, "body too large")

    registration, cached = lookup_registration(uuid)
    if registration is None:
        return _answer(404, "unknown webhook")

    # Never request.body: read from the stream, at most cap + 1 bytes, so an oversized body
    # (a lying or absent Content-Length) is detected without holding more than that.
    try:
        body = request.read(cap + 1)
    except UnreadablePostError:
        # The client went away mid-body (Django wraps the OSError): bad input, not a 500.
        return _reject(400, uuid, "body could not be read")
    if len(body) > cap:
        return _reject(413, uuid, "body too large")

    signature = request.META.get("HTTP_X_SPARK_SIGNATURE", "")
    if not _SIGNATURE.fullmatch(signature):
        return _reject(403, uuid, "missing or malformed signature")
    signature = signature.lower()
    valid = _signed(registration, body, signature)
    if not valid and cached:
        # The cached row may predate a secret rotation (or a deactivation) made in another
        # process: decide on the database's current row, never on the cache, before rejecting.
        registration, cached = lookup_registration(uuid, fresh=True)
        if registration is None:
            return _answer(404, "unknown webhook")
        valid = _signed(registration, body, signature)
    if not valid:
        valid = _signed_before_rotation(registration, body, signature)
    if not valid:
        reason = "bad signature" if registration.secret else "webhook has no secret"
        return _reject(403, uuid, reason)

    try:
        payload = parse_payload(body)
    except InvalidPayloadError as exc:
        return _reject(400, uuid, f"invalid payload: {exc}")
    if payload.get("id") != registration.webex_id and cached:
        registration, cached = lookup_registration(uuid, fresh=True)  # re-registered?
        if registration is None:
            return _answer(404, "unknown webhook")
        if not (
            _signed(registration, body, signature)
            or _signed_before_rotation(registration, body, signature)
        ):
            return _reject(403, uuid, "bad signature")
    if payload.get("id") != registration.webex_id:
        # Signed with our secret but for another registration (a copied secret, or a replay
        # from another endpoint): not this webhook's event.
        return _reject(400, uuid, "payload is for another webhook")

    try:
        # The verified body is stored as the payload's JSON text (it decoded as UTF-8 and
        # parsed above), saving a second serialisation of what was just parsed.
        delivery_pk, created = accept_registered(registration, payload, body.decode("utf-8"))
    except IntegrityError:
        # The webhook was deleted after this process cached it (store.WebhookGone: the
        # INSERT checks that it exists). Unknown now.
        forget_registrations()
        return _answer(404, "unknown webhook")
    if not created:
        logger.info("Duplicate webhook delivery %s for %s (not dispatched)", delivery_pk, uuid)
        return _answer(200, "duplicate")
    return _answer(200, "ok")


def _signed(registration: Registration, body: bytes, signature: str) -> bool:
    """Constant-time HMAC-SHA1 check of the raw bytes. Fail closed: a row without a secret
    authenticates nothing (no DEBUG bypass)."""
    if not registration.secret:
        return False
    return verify_signature(registration.secret, body, signature)


def _signed_before_rotation(registration: Registration, body: bytes, signature: str) -> bool:
    """Signed with the secret before the last rotation, during its grace period
    (``WEBHOOK_SECRET_GRACE_SECONDS``: deliveries Webex signed before it took the new
    secret); never after it. Asked only once the current secret failed (off the hot path)."""
    previous = registration.previous_secret_in_grace()
    return bool(previous) and verify_signature(previous, body, signature)
