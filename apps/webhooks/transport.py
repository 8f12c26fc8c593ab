"""Sending one webhook request: Stripe-style signing, and an HTTP client that cannot be
turned against our own network.

The URL is checked when the endpoint is saved (`url_safety.check_upstream_url`), and again
at connect time here: the connection resolves the host itself, refuses private, loopback,
link-local and reserved addresses, and connects to the address it checked — so a DNS name
that later points inside (DNS rebinding) is still refused."""

import hashlib
import hmac
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from apps.core.url_safety import UnsafeUpstream, is_public_address, resolve_host

USER_AGENT = "Tollgate-Webhooks/1"
BODY_EXCERPT_CHARS = 500
_EXCERPT_BYTES = BODY_EXCERPT_CHARS * 4  # enough for 500 characters of UTF-8


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<raw body>` keyed with the whole `whsec_…` secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex>`; during a secret rotation one `v1` per valid secret."""
    signatures = [f"v1={signature(secret, timestamp, body)}" for secret in secrets]
    return ",".join([f"t={timestamp}", *signatures])


class UnsafeAddress(Exception):
    """The host resolves to an address webhooks must not reach. Not an OSError on purpose:
    urllib3 would retry it and bury the reason."""


@dataclass
class Outcome:
    status_code: int | None = None
    body_excerpt: str = ""
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# --- The checked connection -------------------------------------------------------------
def public_addresses(host: str, port: int) -> list[str]:
    try:
        addresses = resolve_host(host, port)
    except UnsafeUpstream as error:
        raise UnsafeAddress(f"{host} does not resolve.") from error
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeAddress(
                f"Refused: {host} points to a private or reserved address ({address})."
            )
    return addresses


class _CheckedConnectionMixin:
    def _new_conn(self):
        original = self._dns_host
        error: Exception | None = None
        try:
            for address in public_addresses(original, self.port):
                self._dns_host = address  # connect to what was checked, not a new lookup
                try:
                    return super()._new_conn()
                except (NewConnectionError, ConnectTimeoutError) as failure:
                    error = failure
        finally:
            self._dns_host = original
        raise error or UnsafeAddress(f"{original} has no address.")


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPPool,
            "https": _CheckedHTTPSPool,
        }


def _session(*, allow_private: bool) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # an HTTP(S)_PROXY variable must not route around the check
    if not allow_private:
        adapter = _CheckedAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


# --- Sending ----------------------------------------------------------------------------
def post(url: str, body: bytes, headers: dict, *, timeout_s: float, allow_private: bool) -> Outcome:
    """POST once, never following redirects; every failure becomes an Outcome."""
    started = time.monotonic()
    outcome = Outcome()
    try:
        with _session(allow_private=allow_private) as session:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=timeout_s,
                allow_redirects=False,
                stream=True,
            )
            with response:
                outcome.status_code = response.status_code
                outcome.body_excerpt = _excerpt(response)
    except UnsafeAddress as error:
        outcome.error = str(error)
    except requests.exceptions.Timeout:
        outcome.error = f"No answer within {timeout_s:g} s."
    except requests.exceptions.SSLError:
        outcome.error = "The TLS handshake failed: is the certificate valid for this host?"
    except requests.exceptions.ConnectionError as error:
        outcome.error = _connection_error(error)
    except requests.exceptions.RequestException as error:
        outcome.error = f"The request failed: {error}"[:300]
    outcome.duration_ms = round((time.monotonic() - started) * 1000)
    if outcome.status_code and 300 <= outcome.status_code < 400:
        outcome.error = "Redirects are not followed: point the endpoint at the final URL."
    return outcome


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(_EXCERPT_BYTES, decode_content=True) or b""
    except Exception:  # a broken body must not hide the status code we already have
        return ""
    return raw.decode("utf-8", errors="replace")[:BODY_EXCERPT_CHARS]


def _connection_error(error: Exception) -> str:
    text = str(error)
    if "Connection refused" in text:
        return "Could not connect: the connection was refused."
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "Could not connect: the host name does not resolve."
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "The connection closed before an answer."
    return f"Could not connect: {text}"[:300]
