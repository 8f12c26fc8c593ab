"""Log records as operators need them: the request id on every line, and no secret in any.

`RequestIdFilter` copies the request id (set by the gateway for each call and by
`RequestIdMiddleware` for the rest of the site) onto every record, so the JSON formatter
can print it. `RedactingFilter` scrubs secrets from the message, its arguments, extra
fields, exception text and stack: API keys, access tokens, proxy and signing secrets,
webhook secrets, Stripe keys, credentials in URLs and the values of Authorization,
X-Api-Key and similar headers. Install both on every handler (a filter on a logger does
not see records propagated from its children; one on a handler sees them all)."""

import logging
import re
import secrets
import traceback
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# --- Request ids for the Django site --------------------------------------------------------
REQUEST_ID_HEADER = "X-Tollgate-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives each request of the site (the gateway does its own) an id for the logs and
    echoes it in `X-Tollgate-Request-Id`. The gateway's `X-Tollgate-Request-Id` or a
    proxy's `X-Request-Id` is kept when it looks like an id, so load balancer, gateway and
    application logs can be joined; anything else is replaced, so a client cannot write
    into our logs through it.

    The id is not reset when the response leaves: Django logs 4xx/5xx responses
    ("django.request") after the middleware chain has returned, and those lines need it.
    Every request sets its own id first, so none inherits another's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # the gateway's id when the site is itself an upstream (the demo APIs), so one
        # call has one id in both halves of the logs
        incoming = request.headers.get(REQUEST_ID_HEADER) or request.headers.get("X-Request-Id", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


# --- Redaction ---------------------------------------------------------------------------------
REDACTED = "[redacted]"

# Header-like "name: value" / "name=value" / "'name': 'value'" pairs whose value is a
# credential, however they were printed (raw headers, a dict, request.META, a query).
_SECRET_FIELDS = (
    r"proxy[-_]authorization|authorization|x[-_]api[-_]key|x[-_]tollgate[-_]proxy[-_]secret"
    r"|api[-_]?key|access[-_]?token|client[-_]?secret|password|passwd|secret[-_]?key"
    r"|sessionid|csrftoken|cookie"
)
_FIELD_VALUE = re.compile(
    rf"(?i)(?P<name>\b(?:http_)?(?:{_SECRET_FIELDS}))"
    r"(?P<sep>\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    r"(?!(?:(?:bearer|basic|token|digest)\s+)?\[redacted\])"  # done already
    r"(?P<scheme>(?:bearer|basic|token|digest)\s+)?"
    r"(?P<value>[^\s\"'\\,;&}\]]+)"
)

# Secrets recognisable by their shape, wherever they appear. A key's display prefix
# (`tg_` + 8 characters, shown in the console) is short enough to stay readable.
_START = r"(?<![0-9A-Za-z])"
_SHAPED = [
    (rf"{_START}tg_[0-9A-Za-z]{{16,}}", "tg_"),  # API keys: tg_ + 40 base62 + 6 checksum
    (rf"{_START}tgp_[0-9A-Za-z]{{16,}}", "tgp_"),  # access tokens
    (rf"{_START}tgps_[0-9A-Za-z_-]{{16,}}", "tgps_"),  # upstream proxy secrets
    (rf"{_START}tgss_[0-9A-Za-z_-]{{16,}}", "tgss_"),  # request signing secrets
    (rf"{_START}whsec_[0-9A-Za-z+/=_-]{{8,}}", "whsec_"),  # webhook signing secrets
    (rf"{_START}(sk|rk)_(live|test)_[0-9A-Za-z]{{8,}}", r"\1_\2_"),  # Stripe keys
    (rf"{_START}((?:pi|seti)_[0-9A-Za-z]+)_secret_[0-9A-Za-z]+", r"\1_secret_"),
    (r"(?i)\bbearer\s+[0-9A-Za-z._~+/=-]{8,}", "Bearer "),
]
_SHAPED_PATTERNS = [(re.compile(pattern), kept + REDACTED) for pattern, kept in _SHAPED]
# user:password@ in URLs (DATABASE_URL, REDIS_URL, a broker URL in a traceback)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@\"']*):[^\s@/\"']+@")
# Query parameters that carry credentials (`?key=…`, `&api_key=…`, `?access_token=…`,
# `?sig=…`), whatever their value looks like: a key pasted into a URL lands in access logs.
_QUERY_PARAMETER = re.compile(r"(?P<name>[?&;](?P<param>[\w.\[\]%-]+)=)(?P<value>[^&;#\s\"']+)")
_SECRET_PARAMETER = re.compile(
    r"(?i)key|token|secret|passw(?:or)?d|pwd|signature|auth|credential|session"
    r"|(?:^|[_.-])sig(?:$|[_.-])"
)


def redact(text: str) -> str:
    """`text` with every secret replaced by its kind and `[redacted]`. Idempotent."""
    if not text:
        return text
    text = _QUERY_PARAMETER.sub(_redact_parameter, text)
    text = _FIELD_VALUE.sub(_redact_field, text)
    for pattern, replacement in _SHAPED_PATTERNS:
        text = pattern.sub(replacement, text)
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


def _redact_parameter(match: re.Match) -> str:
    if match["value"] == REDACTED or not _SECRET_PARAMETER.search(match["param"]):
        return match[0]
    return match["name"] + REDACTED


def _redact_field(match: re.Match) -> str:
    scheme = match["scheme"] or ""
    return f"{match['name']}{match['sep']}{scheme}{REDACTED}"


# Attributes every LogRecord has; anything else came in through `extra=` and is printed by
# the JSON formatter, so it is scrubbed too.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record before any formatter sees it. Never drops a record and
    never raises: a record it cannot read is replaced by a note saying so."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact_message(record)
            self._redact_exception(record)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
            self._redact_extras(record)
        except Exception as error:  # the application must not fail because of its logs
            record.msg = f"log record withheld: redaction failed ({type(error).__name__})"
            record.args = None
            record.exc_info = record.exc_text = record.stack_info = None
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            # A broken format call: logging would print msg and args raw to stderr.
            message = f"{record.msg} (arguments: {record.args!r})"
            record.msg, record.args = redact(message), None
            return
        redacted = redact(message)
        if redacted == message:
            return
        if _redact_arguments(record, redacted):
            return
        record.msg, record.args = redacted, None

    @staticmethod
    def _redact_exception(record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if not record.exc_text:
            return
        redacted = redact(record.exc_text)
        if redacted != record.exc_text:
            record.exc_text = redacted
            # Formatters that render exc_info themselves (the JSON one does) would print the
            # original; without it they all fall back to the scrubbed exc_text.
            record.exc_info = None

    @staticmethod
    def _redact_extras(record: logging.LogRecord) -> None:
        for name, value in list(vars(record).items()):
            if name in _RECORD_ATTRIBUTES or value is None:
                continue
            if isinstance(value, str):
                setattr(record, name, redact(value))
            elif not isinstance(value, int | float | bool):
                # Objects are printed with str() by the JSON formatter: scrub that string,
                # but keep the object when it holds nothing secret.
                text = _printable(value)
                redacted = redact(text)
                if redacted != text:
                    setattr(record, name, redacted)


def _redact_arguments(record: logging.LogRecord, redacted: str) -> bool:
    """Scrub the arguments one by one, keeping msg and the args tuple: formatters that
    unpack the arguments (uvicorn's access log) still work. False when that is not enough
    (a secret spread over msg and an argument)."""
    if not isinstance(record.args, tuple) or not record.args:
        return False
    args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
    try:
        if record.msg % args != redacted:
            return False
    except Exception:
        return False
    record.args = args
    return True


SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def protect_server_logs() -> None:
    """The ASGI server configures its own handlers before Django starts (uvicorn's access
    log prints every path with its query string: a key pasted into a URL), so
    LOGGING's handlers never see those records: give the server's handlers the same
    filters. Its formats and its choice to log or not are kept."""
    for name in SERVER_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RequestIdFilter())
                handler.addFilter(RedactingFilter())


def _printable(value) -> str:
    try:
        return str(value)
    except Exception:  # unprintable: the formatter cannot print it either
        return ""
