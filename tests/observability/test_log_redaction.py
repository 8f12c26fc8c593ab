"""No secret reaches a log line: not in messages, arguments, extra fields or tracebacks, in
the plain and in the JSON format; normal text is left alone. And the gateway and the API,
called for real at DEBUG with every logger listening, never log a key or token at all."""

import io
import json
import logging

import pytest
import requests
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.test import RequestFactory
from pythonjsonlogger.json import JsonFormatter

from apps.accounts.services import access_token_create
from apps.core.logging import (
    REQUEST_ID_HEADER,
    RedactingFilter,
    RequestIdFilter,
    RequestIdMiddleware,
    redact,
    request_id_var,
)
from apps.core.secrets import generate_secret
from tests.observability.conftest import METRICS_URLS

API_KEY = generate_secret("tg")
ACCESS_TOKEN = generate_secret("tgp")
SECRETS = {
    "api key": API_KEY,
    "access token": ACCESS_TOKEN,
    "proxy secret": "tgps_" + "Zx9-_Qw3" * 5 + "abc",
    "signing secret": "tgss_" + "k_L-m2N9" * 5 + "xyz",
    "webhook secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "stripe live key": "sk_live_" + "51H8a2kLmNoPqRsTuVwXyZ0123456789abcdef",
    "stripe test key": "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "stripe restricted key": "rk_live_" + "51H8a2kLmNoPqRsTuVwXyZ0123",
    "stripe restricted test key": "rk_test_" + "51H8a2kLmNoPqRsTuVwXyZ0123",
    "payment intent client secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
    "database password": "hunter2-db-password",
    "opaque bearer token": "opaque.bearer-token~value",
    "opaque api key header": "plain-header-key-77",
}
# how each secret shows up in a log line
CARRIERS = {
    "api key": "using key {}",
    "access token": "token={}",
    "proxy secret": "X-Tollgate-Proxy-Secret: {}",
    "signing secret": "signing with {}",
    "webhook secret": "endpoint secret {} rejected",
    "stripe live key": "stripe.api_key is {}",
    "stripe test key": "stripe key {}",
    "stripe restricted key": "restricted {}",
    "stripe restricted test key": "{}",
    "payment intent client secret": "client secret {}",
    "database password": "could not connect to postgres://tollgate:{}@db:5432/tollgate",
    "opaque bearer token": "headers={{'Authorization': 'Bearer {}'}}",
    "opaque api key header": "X-Api-Key: {}",
}


@pytest.fixture
def capture():
    """A logger with the production chain: RequestIdFilter + RedactingFilter on a plain and
    a JSON handler (the formats of config/settings/base.py)."""
    logger = logging.getLogger("tests.observability.redaction")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    plain, structured = io.StringIO(), io.StringIO()
    formats = django_settings.LOGGING["formatters"]
    handlers = [
        (logging.StreamHandler(plain), logging.Formatter(formats["plain"]["format"])),
        (logging.StreamHandler(structured), JsonFormatter(formats["json"]["format"])),
    ]
    for handler, formatter in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
    yield logger, plain, structured
    for handler, _ in handlers:
        logger.removeHandler(handler)
    logger.propagate = True


def _assert_clean(*outputs: str) -> None:
    for output in outputs:
        for kind, secret in SECRETS.items():
            assert secret not in output, f"{kind} leaked: {output}"


@pytest.mark.parametrize("kind", list(SECRETS))
def test_a_secret_in_the_message_is_redacted(capture, kind):
    logger, plain, structured = capture
    line = CARRIERS[kind].format(SECRETS[kind])
    logger.warning(line)
    logger.warning("as an argument: %s", line)
    logger.warning("as a repr: %r", {"detail": line})
    _assert_clean(plain.getvalue(), structured.getvalue())
    assert plain.getvalue().count("[redacted]") == 3
    for entry in structured.getvalue().splitlines():
        assert "[redacted]" in json.loads(entry)["message"]


@pytest.mark.parametrize("kind", list(SECRETS))
def test_a_secret_in_an_exception_is_redacted(capture, kind):
    logger, plain, structured = capture
    line = CARRIERS[kind].format(SECRETS[kind])
    try:
        try:
            raise KeyError(line)
        except KeyError as cause:
            raise RuntimeError(f"wrapped: {line}") from cause
    except RuntimeError:
        logger.exception("the call failed")
    _assert_clean(plain.getvalue(), structured.getvalue())
    assert "Traceback (most recent call last)" in plain.getvalue()
    assert "RuntimeError: wrapped:" in plain.getvalue()
    entry = json.loads(structured.getvalue())
    assert "KeyError" in entry["exc_info"] and "[redacted]" in entry["exc_info"]


def test_a_secret_in_extra_fields_and_the_stack_is_redacted(capture):
    logger, plain, structured = capture
    logger.info(
        "calling upstream",
        extra={
            "headers": {"X-Api-Key": API_KEY, "Accept": "application/json"},
            "token": ACCESS_TOKEN,
            "attempt": 2,
        },
        stack_info=True,
    )
    _assert_clean(plain.getvalue(), structured.getvalue())
    entry = json.loads(structured.getvalue())
    assert entry["attempt"] == 2
    assert entry["token"] == "tgp_[redacted]"
    assert "application/json" in entry["headers"]


def test_normal_text_is_untouched(capture):
    logger, plain, structured = capture
    request_id_var.set("abc123")
    messages = [
        "flushed 5000 events in 0.2 s (lag 3.1 s)",
        "key tg_AbCd1234 used for echo-api",  # a key's display prefix is not the key
        "subscription=12 api_key_id=7 status: active",
        "Authorization header missing",
        "GET /gw/echo-api/echo?q=1 → 200",
        "https://example.com/path?page=2",
    ]
    for message in messages:
        logger.info("%s", message)
    lines = plain.getvalue().splitlines()
    assert len(lines) == len(messages)
    assert all(line.endswith(message) for line, message in zip(lines, messages, strict=True))
    entries = [json.loads(line) for line in structured.getvalue().splitlines()]
    assert [entry["message"] for entry in entries] == messages
    assert {entry["request_id"] for entry in entries} == {"abc123"}
    request_id_var.set("")


def test_a_record_is_redacted_once_for_every_handler(capture):
    """Handlers share the record: the second filter must not mangle the first's work."""
    logger, plain, structured = capture
    logger.warning("Authorization: Bearer %s", ACCESS_TOKEN)
    assert plain.getvalue().rstrip().endswith("Authorization: Bearer [redacted]")
    assert json.loads(structured.getvalue())["message"] == "Authorization: Bearer [redacted]"


def test_a_broken_log_call_leaks_nothing_and_does_not_raise(capture):
    logger, plain, structured = capture
    logger.warning("two placeholders %s %s but one argument", API_KEY)
    _assert_clean(plain.getvalue(), structured.getvalue())
    assert "two placeholders" in plain.getvalue()


def test_caplog_with_the_filter_sees_no_secret(caplog):
    caplog.handler.addFilter(RedactingFilter())
    logger = logging.getLogger("apps.gateway.test")
    with caplog.at_level(logging.DEBUG):
        for kind, secret in SECRETS.items():
            logger.debug(CARRIERS[kind].format(secret))
        try:
            raise ValueError(f"bad key {API_KEY}")
        except ValueError:
            logger.exception("boom")
    _assert_clean(caplog.text)
    assert caplog.text.count("[redacted]") == len(SECRETS) + 1


def test_redact_is_idempotent():
    for kind in SECRETS:
        once = redact(CARRIERS[kind].format(SECRETS[kind]))
        assert redact(once) == once


# --- Request ids on the site ----------------------------------------------------------------
def _view_that_logs(records):
    def view(request):
        record = logging.LogRecord("x", logging.INFO, "", 0, "in the view", None, None)
        RequestIdFilter().filter(record)
        records.append(record)
        return HttpResponse("ok")

    return view


def test_every_site_request_gets_an_id_in_its_logs_and_response():
    records = []
    middleware = RequestIdMiddleware(_view_that_logs(records))
    first = middleware(RequestFactory().get("/"))
    second = middleware(RequestFactory().get("/"))
    assert len(first[REQUEST_ID_HEADER]) == 16
    assert first[REQUEST_ID_HEADER] != second[REQUEST_ID_HEADER]
    assert records[0].request_id == first[REQUEST_ID_HEADER]
    assert records[1].request_id == second[REQUEST_ID_HEADER]


@pytest.mark.urls(METRICS_URLS)
@pytest.mark.django_db
def test_django_error_lines_carry_the_request_id(client, settings, caplog):
    """django.request logs a 4xx after the middleware chain returned: the id is still set."""
    settings.MIDDLEWARE = ["apps.core.logging.RequestIdMiddleware", *settings.MIDDLEWARE]
    settings.METRICS_TOKEN = "token"
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/metrics", HTTP_X_REQUEST_ID="lb-request-0001")
    assert response.status_code == 401
    assert response[REQUEST_ID_HEADER] == "lb-request-0001"
    (line,) = [r for r in caplog.records if r.name == "django.request"]
    assert line.request_id == "lb-request-0001"
    request_id_var.set("")


def test_a_proxy_request_id_is_kept_when_it_looks_like_one():
    records = []
    middleware = RequestIdMiddleware(_view_that_logs(records))
    kept = middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="lb-4f2a9c1e-77"))
    assert kept[REQUEST_ID_HEADER] == "lb-4f2a9c1e-77"
    forged = middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="x\nINFO fake line"))
    assert forged[REQUEST_ID_HEADER] != "x\nINFO fake line"
    assert records[1].request_id == forged[REQUEST_ID_HEADER]


def test_the_gateway_request_id_carries_into_an_upstream_on_this_site():
    """The demo APIs are this site behind its own gateway: one call, one id in the logs."""
    records = []
    middleware = RequestIdMiddleware(_view_that_logs(records))
    response = middleware(
        RequestFactory().get(
            "/", HTTP_X_TOLLGATE_REQUEST_ID="4f8d239b9702183d", HTTP_X_REQUEST_ID="lb-0000001"
        )
    )
    assert response[REQUEST_ID_HEADER] == "4f8d239b9702183d"
    assert records[0].request_id == "4f8d239b9702183d"


# --- Real calls at DEBUG, every logger listening, no filter ---------------------------------
class _Everything(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        parts = [record.getMessage(), repr(record.args), str(vars(record))]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.lines.append(" ".join(parts))


@pytest.fixture
def every_logger_at_debug():
    """Raw records (no redaction) from every logger, including the ones that do not
    propagate to the root (uvicorn's)."""
    handler = _Everything()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is logging.getLogger() or not logger.propagate:
            logger.addHandler(handler)
    yield handler
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled
        logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
def test_gateway_and_api_calls_never_log_a_key_or_token(world, every_logger_at_debug):
    _, token = access_token_create(
        actor=world.consumer, organization=world.consumer_org, name="logs"
    )
    wrong_key = world.key[:-1] + ("A" if world.key[-1] != "A" else "B")
    wrong_token = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert world.call().status_code == 200
    assert world.call("/items/7", method="POST", data=b"{}").status_code == 200
    assert world.call(key=wrong_key).status_code == 401
    assert world.call("/drop").status_code == 502
    api = f"{world.site.url}/api/v1/keys/"
    assert requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=30).ok
    denied = requests.get(api, headers={"Authorization": f"Bearer {wrong_token}"}, timeout=30)
    assert denied.status_code == 401

    captured = "\n".join(every_logger_at_debug.lines)
    # DEBUG really was on, here and in the site's thread
    assert "/gw/echo-api/echo" in captured  # urllib3, the client side
    assert "upstream echo-api failed" in captured  # the gateway (INFO, on /drop)
    for secret in (world.key, wrong_key, token, wrong_token, world.api.proxy_secret):
        assert secret not in captured
