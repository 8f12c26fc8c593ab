"""QR code demo API: PNG or SVG images made by segno, from query parameters (GET) or a JSON
body (POST) with the same fields."""

import io
import re

import segno
from django.http import HttpResponse

from .jsonio import int_field, invalid, json_endpoint, read_json_object, string_field

MAX_DATA_CHARS = 2_000
MAX_BODY_BYTES = 32 * 1024
CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
ERROR_LEVELS = ("L", "M", "Q", "H")
HEX_COLOUR = re.compile(r"#?([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")


@json_endpoint("GET", "POST")
def qr_code(request):
    if request.method == "POST":
        fields = read_json_object(request, max_bytes=MAX_BODY_BYTES)
    else:
        fields = request.GET.dict()
    options = qr_options(fields)
    image = render_qr(**options)
    response = HttpResponse(image, content_type=CONTENT_TYPES[options["kind"]])
    response["Content-Disposition"] = f'inline; filename="qr.{options["kind"]}"'
    return response


def qr_options(fields: dict) -> dict:
    data = string_field(fields, "data", max_chars=MAX_DATA_CHARS)
    if not data:
        raise invalid("The field 'data' must not be empty.")
    return {
        "data": data,
        "kind": _choice(fields, "format", CONTENT_TYPES, default="png"),
        "error": _choice(fields, "error", ERROR_LEVELS, default="M"),
        "scale": int_field(fields, "scale", default=4, low=1, high=20),
        "border": int_field(fields, "border", default=4, low=0, high=10),
        "dark": _colour(fields, "dark", default="#000000"),
        "light": _colour(fields, "light", default="#ffffff", transparent_ok=True),
    }


def _choice(fields: dict, name: str, choices, *, default: str) -> str:
    value = string_field(fields, name, default=default)
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise invalid(f"The field '{name}' must be one of: {', '.join(choices)}.")


def _colour(fields: dict, name: str, *, default: str, transparent_ok: bool = False):
    value = string_field(fields, name, default=default)
    if transparent_ok and value.lower() == "transparent":
        return None  # segno leaves the light modules out
    match = HEX_COLOUR.fullmatch(value)
    if not match:
        allowed = " or 'transparent'" if transparent_ok else ""
        raise invalid(f"The field '{name}' must be a hex colour like 1a2b3c or #fff{allowed}.")
    return f"#{match.group(1)}"


def render_qr(*, data: str, kind: str, error: str, scale: int, border: int, dark, light) -> bytes:
    try:
        # boost_error=False: the caller asked for this error level, not a higher one.
        code = segno.make(data, error=error, micro=False, boost_error=False)
    except segno.DataOverflowError as exc:
        raise invalid(
            f"The data does not fit in a QR code at error level {error}; "
            "use less data or a lower level.",
            code="data_too_long_for_qr",
        ) from exc
    buffer = io.BytesIO()
    code.save(buffer, kind=kind, scale=scale, border=border, dark=dark, light=light)
    return buffer.getvalue()
