"""RFC 9457 problem details (`application/problem+json`), shared by the platform API and
the gateway. `problem_body` has no Django dependency so the gateway can use it directly."""

import json
from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from .errors import ServiceError

CONTENT_TYPE = "application/problem+json"
DOCS_BASE = "/docs/errors"


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    request_id: str | None = None,
    **extra,
) -> dict:
    body = {
        "type": f"{DOCS_BASE}#{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_bytes(status: int, code: str, detail: str, **kwargs) -> bytes:
    return json.dumps(problem_body(status, code, detail, **kwargs)).encode()


def problem_response(status: int, code: str, detail: str, **kwargs) -> JsonResponse:
    return JsonResponse(
        problem_body(status, code, detail, **kwargs), status=status, content_type=CONTENT_TYPE
    )


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return "invalid"


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [
            str(item) if not isinstance(item, dict | list) else _field_errors(item)
            for item in detail
        ]
    return str(detail)


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def drf_exception_handler(exc, context):
    """DRF's handler for every API view: every error leaves as problem+json."""
    if isinstance(exc, ServiceError):
        extra = {"errors": {exc.field: [exc.message]}} if exc.field else {}
        return _problem(exc.status, exc.code, exc.message, extra)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        return _problem(400, "invalid", _first_message(errors), {"errors": errors})
    code = _drf_code(exc) if isinstance(exc, drf_exceptions.APIException) else "error"
    detail = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    problem = _problem(response.status_code, code, detail, {})
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            problem[header] = response[header]
    return problem


def _problem(status: int, code: str, detail: str, extra: dict) -> Response:
    return Response(
        problem_body(status, code, detail, **extra), status=status, content_type=CONTENT_TYPE
    )
