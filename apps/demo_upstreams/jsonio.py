"""JSON in and out for the demo APIs: one decorator maps methods and `ServiceError` to the
`{"error", "detail"}` shape every demo endpoint answers with."""

import functools
import json
import re

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import ServiceError

# The gateway reads this header to bill more (or less) than one unit for a call, then strips it.
UNITS_HEADER = "X-Tollgate-Units"


def error_response(status: int, error: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail}, status=status)


def json_endpoint(*methods: str):
    """CSRF-exempt (API clients carry no CSRF token), answers other methods with 405 and an
    Allow header, and turns a raised `ServiceError` into a JSON error response."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error_response(
                    405, "method_not_allowed", f"{request.method} is not allowed here."
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except ServiceError as exc:
                return error_response(exc.status, exc.code, exc.message)

        return wrapper

    return decorate


def invalid(detail: str, *, code: str = "invalid_field") -> ServiceError:
    return ServiceError(detail, code=code, status=422)


def too_large(detail: str, *, code: str = "payload_too_large") -> ServiceError:
    return ServiceError(detail, code=code, status=413)


def read_json_object(request, *, max_bytes: int) -> dict:
    """The request body as a JSON object, refusing bodies over `max_bytes` before parsing."""
    if _declared_length(request) > max_bytes:
        raise too_large(f"The request body is limited to {max_bytes} bytes.")
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise too_large(f"The request body is limited to {max_bytes} bytes.") from exc
    # A chunked upload declares no length, so the body itself is measured too.
    if len(body) > max_bytes:
        raise too_large(f"The request body is limited to {max_bytes} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError("The request body is not valid JSON.", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise ServiceError("The request body must be a JSON object.", code="invalid_json")
    return data


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def string_field(
    data: dict, name: str, *, max_chars: int | None = None, default: str | None = None
) -> str:
    """A string field; missing is 422 unless a default is given. `max_chars` is for payload
    fields (text to process), where too much is 413; option fields are checked by value."""
    value = data.get(name)
    if value is None:
        if default is not None:
            return default
        raise invalid(f"The field '{name}' is required.", code="missing_field")
    if not isinstance(value, str):
        raise invalid(f"The field '{name}' must be a string.")
    if max_chars is not None and len(value) > max_chars:
        raise too_large(f"The field '{name}' is limited to {max_chars} characters.")
    return value


def int_field(data: dict, name: str, *, default: int, low: int, high: int) -> int:
    """An integer field in [low, high]; digit strings count too, since query values are text."""
    value = data.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
        value = int(value)
    # bool is an int subclass, but `true` is no size.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"The field '{name}' must be an integer from {low} to {high}.")
    return value


@csrf_exempt
def not_found(request, unmatched=""):
    return error_response(404, "not_found", f"No demo endpoint at {request.path}.")
