import socket

import pytest

from apps.core.url_safety import UnsafeUpstream, check_upstream_url, is_public_address


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://100.64.1.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://metadata.google.internal/",
    ],
)
def test_it_refuses_private_loopback_link_local_and_metadata_hosts(url):
    with pytest.raises(UnsafeUpstream):
        check_upstream_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "http"),
        ("file:///etc/passwd", "http"),
        ("https://user:pass@example.com/", "Credentials"),
        ("https://example.com:99999/", "port"),
        ("https:///nohost", "no host"),
        ("https://example.com/?a=1", "query"),
    ],
)
def test_it_refuses_bad_urls_with_a_clear_message(url, message):
    with pytest.raises(UnsafeUpstream, match=message):
        check_upstream_url(url, allow_private=True)


def test_a_dns_name_resolving_to_a_private_address_is_refused(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeUpstream, match=r"10\.0\.0\.7"):
        check_upstream_url("https://innocent.example.com/v1", allow_private=False)


def test_public_addresses_pass_and_odd_ports_are_fine(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert (
        check_upstream_url("https://api.example.com:8443/v1/", allow_private=False)
        == "https://api.example.com:8443/v1"
    )


def test_private_addresses_pass_when_allowed():
    assert (
        check_upstream_url("http://127.0.0.1:8000/x", allow_private=True)
        == "http://127.0.0.1:8000/x"
    )


def test_address_classification():
    assert is_public_address("8.8.8.8")
    assert not is_public_address("::ffff:127.0.0.1")
    assert not is_public_address("fe80::1")
