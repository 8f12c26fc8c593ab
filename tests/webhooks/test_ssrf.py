"""Webhooks must not become a way into our own network: private, loopback, link-local and
metadata addresses are refused when an endpoint is saved, when a delivery is sent, and at
connect time (a name that re-resolves inside after the check)."""

import socket

import pytest

from apps.core.errors import ServiceError
from apps.webhooks import services, transport
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.webhooks.urls")]

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def production(settings):
    settings.UPSTREAM_ALLOW_PRIVATE = False


def _resolve(monkeypatch, names: dict[str, list[str]]):
    """Let chosen names resolve to chosen addresses (each call pops the next list if a
    name maps to several), like a DNS server under someone else's control."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            answers = names[host]
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _refused(owner, org, url: str) -> str:
    with pytest.raises(ServiceError) as caught:
        services.endpoint_create(actor=owner, organization=org, url=url)
    assert caught.value.field == "url"
    return caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://[::1]/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_private_and_metadata_addresses_are_refused(production, owner, org, url):
    message = _refused(owner, org, url)
    assert "private" in message or "metadata" in message.lower()
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_is_refused_in_production(production, owner, org):
    assert _refused(owner, org, "http://169.254.169.254/") == "Use an https:// URL."
    assert _refused(owner, org, "ftp://example.com/") == "Use an https:// URL."


def test_a_name_resolving_to_loopback_is_refused(production, owner, org, monkeypatch):
    _resolve(monkeypatch, {"hooks.example.com": ["127.0.0.1"]})
    message = _refused(owner, org, "https://hooks.example.com/tollgate")
    assert "127.0.0.1" in message and "webhook endpoints must" in message


def test_credentials_in_the_url_are_refused(owner, org):
    message = _refused(owner, org, "https://user:pass@example.com/hook")
    assert "Tollgate-Signature" in message


def test_public_https_urls_with_a_query_are_accepted(production, owner, org, monkeypatch):
    _resolve(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    endpoint = services.endpoint_create(
        actor=owner, organization=org, url=" https://hooks.example.com/tollgate/?source=tg "
    )
    assert endpoint.url == "https://hooks.example.com/tollgate/?source=tg"


def test_a_saved_endpoint_is_checked_again_when_sending(
    owner, org, receiver, committed, settings, monkeypatch
):
    # saved while private addresses were allowed (development) …
    endpoint = services.endpoint_create(
        actor=owner, organization=org, url=receiver.url.replace("127.0.0.1", "hooks.test")
    )
    _resolve(monkeypatch, {"hooks.test": ["127.0.0.1"]})
    settings.UPSTREAM_ALLOW_PRIVATE = False  # … sent in production
    with committed():
        services.emit(organization=org, type="subscription.created", data={})
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert receiver.received == []
    assert delivery.status == "pending" and delivery.attempt_count == 1
    assert delivery.last_error.startswith("Refused:")
    assert delivery.last_status_code is None


def test_a_name_that_turns_private_after_the_check_is_refused_at_connect(receiver, monkeypatch):
    # DNS rebinding: the first lookup (the check) says public, the next (connect) says loopback
    _resolve(monkeypatch, {"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    assert transport.public_addresses("rebind.test", 80) == ["93.184.216.34"]
    outcome = transport.post(
        f"http://rebind.test:{receiver.port}/hook",
        b"{}",
        {},
        timeout_s=1,
        allow_private=False,
    )
    assert outcome.status_code is None
    assert (
        outcome.error == "Refused: rebind.test points to a private or reserved address (127.0.0.1)."
    )
    assert receiver.received == []


def test_the_connection_goes_to_the_address_that_was_checked(receiver, monkeypatch):
    """The connection never looks the name up a second time: it connects to the address it
    checked, and sends the original Host. (Loopback passes for "public" here, and a second
    lookup would answer an unroutable address.)"""
    monkeypatch.setattr(transport, "is_public_address", lambda address: True)
    _resolve(monkeypatch, {"pinned.test": ["127.0.0.1", "192.0.2.1"]})
    outcome = transport.post(
        f"http://pinned.test:{receiver.port}/hook", b"{}", {}, timeout_s=1, allow_private=False
    )
    assert outcome.ok, outcome.error
    assert receiver.received[-1]["headers"]["Host"] == f"pinned.test:{receiver.port}"
