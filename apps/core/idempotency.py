"""`Idempotency-Key` for platform API requests that create or change money state, as
Stripe's API has it: a client that retries (a timeout, a dropped connection) sends the same
key, and the request acts once.

- First request with a key: it runs; its answer (status and body, errors included) is kept
  for 24 hours (`IdempotencyRecord`), unless it failed with a 5xx, which may be retried.
- Same key, same request (method, path, body) within 24 hours: the first answer again,
  with `Idempotent-Replayed: true`, and nothing is done.
- Same key, different request: 422 `idempotency_key_reused`, nothing is done.
- Same key while the first request is still running: 409 `idempotency_key_in_use`.
Keys are scoped to who asks (the user and the access token or session), so two clients
cannot collide. Views opt in with `@idempotent` on the method; the OpenAPI document lists
the header on exactly those operations (`IdempotentAutoSchema`)."""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from .models import IdempotencyRecord
from .problems import CONTENT_TYPE, problem_body

HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# a request still "in progress" after this died with its worker: its key may be used again
ABANDONED_AFTER = timedelta(minutes=5)


def idempotent(view_method=None, *, secret_fields: tuple[str, ...] = ()):
    """Decorate an API view's `post`/`patch`/`delete` to honour `Idempotency-Key`.
    `secret_fields` are never stored: a replay answers them as null (an API key's secret
    exists once, in the first answer; only its hash is kept anywhere)."""
    if view_method is None:
        return lambda method: idempotent(method, secret_fields=secret_fields)

    @wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            return _problem(
                400,
                "invalid_idempotency_key",
                f"An {HEADER} is 1 to {MAX_KEY_LENGTH} characters.",
            )
        scope = _digest(_principal(request), request.method, request.path, key)
        fingerprint = _digest(request.method, request.path, _canonical_body(request))
        record, answer = _claim(scope, fingerprint)
        if answer is not None:
            return answer
        try:
            response = view_method(view, request, *args, **kwargs)
        except Exception as exc:
            try:
                response = view.handle_exception(exc)
            except Exception:
                record.delete()  # an unhandled error: nothing was answered, may be retried
                raise
        if response.status_code >= 500:
            record.delete()
        else:
            _remember(record, response, secret_fields)
        return response

    wrapper.idempotent = True
    return wrapper


def _principal(request) -> str:
    token = getattr(request, "auth", None)
    return f"user:{request.user.pk}|token:{getattr(token, 'pk', 'session')}"


def _digest(*parts) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()


def _canonical_body(request) -> str:
    """The body as sent, or for JSON its canonical form (key order and spacing ignored).
    Read before DRF parses it (DRF then parses the cached bytes)."""
    raw = request.body or b""
    if "json" in (request.content_type or ""):
        try:
            return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass
    return hashlib.sha256(raw).hexdigest()


def _claim(scope: str, fingerprint: str):
    """(record, None) to run the request; (None, response) to answer without running it."""
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(scope=scope, fingerprint=fingerprint), None
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(scope=scope).first()
        if existing is None:
            continue  # deleted meanwhile (expired, or a 5xx): try to claim it again
        expired = existing.created_at < now - KEPT_FOR
        abandoned = not existing.completed and existing.created_at < now - ABANDONED_AFTER
        if expired or abandoned:
            IdempotencyRecord.objects.filter(pk=existing.pk).delete()
            continue
        if existing.fingerprint != fingerprint:
            return None, _problem(
                422,
                "idempotency_key_reused",
                f"This {HEADER} was used for a different request in the last 24 hours. "
                "Use a new key for a new request.",
            )
        if not existing.completed:
            return None, _problem(
                409,
                "idempotency_key_in_use",
                f"A request with this {HEADER} is still being processed. Retry shortly.",
            )
        return None, _replay(existing)
    return None, _problem(409, "idempotency_key_in_use", "Retry shortly.")


def _remember(record: IdempotencyRecord, response, secret_fields=()) -> None:
    body = getattr(response, "data", None)
    if isinstance(body, dict) and secret_fields:
        body = {name: None if name in secret_fields else value for name, value in body.items()}
    text = JSONRenderer().render(body).decode() if body is not None else ""
    record.completed = True
    record.status_code = response.status_code
    record.content_type = (getattr(response, "content_type", None) or "")[:100]
    record.body = text
    record.save(update_fields=["completed", "status_code", "content_type", "body"])


def _replay(record: IdempotencyRecord) -> Response:
    data = json.loads(record.body) if record.body else None
    response = Response(data, status=record.status_code, content_type=record.content_type or None)
    response["Idempotent-Replayed"] = "true"
    return response


def _problem(status: int, code: str, detail: str) -> Response:
    return Response(problem_body(status, code, detail), status=status, content_type=CONTENT_TYPE)


def purge_expired(now=None) -> int:
    """Drop answers older than 24 hours (beat, daily)."""
    cutoff = (now or timezone.now()) - KEPT_FOR
    return IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()[0]


class IdempotentAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the `Idempotency-Key` header on idempotent operations."""

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):
            parameters = [*parameters, IDEMPOTENCY_PARAMETER]
        return parameters


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string up to 255 characters (a UUID). Retrying with the same key and "
        "the same body within 24 hours returns the first answer (header "
        "`Idempotent-Replayed: true`) without acting again; the same key with a different "
        "body is refused with 422 `idempotency_key_reused`; while the first request still "
        "runs, 409 `idempotency_key_in_use`."
    ),
)
