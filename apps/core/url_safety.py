"""Upstream URL safety: the gateway must not become a way into our own network (SSRF).

An upstream is refused when its scheme is not http(s), when it carries credentials, or when
its host resolves to a private, loopback, link-local, multicast, reserved or cloud-metadata
address — unless `UPSTREAM_ALLOW_PRIVATE` is on (development, tests, the embedded demo).
The same address check runs at save time (`check_upstream_url`) and at connect time (the
gateway's `SafeResolver`), so a DNS name that later points inside is still refused."""

import ipaddress
import socket
from urllib.parse import urlsplit

from .errors import ServiceError

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeUpstream(ServiceError):
    default_code = "unsafe_upstream"


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUpstream(f"The host {host} does not resolve.", field="upstream_url") from error
    return sorted({info[4][0] for info in infos})


def check_upstream_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """Returns the normalised URL (no trailing slash) or raises UnsafeUpstream."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise UnsafeUpstream("Use an http:// or https:// URL.", field="upstream_url")
    if parts.username or parts.password:
        raise UnsafeUpstream(
            "Credentials in the URL are not allowed; use the proxy secret header instead.",
            field="upstream_url",
        )
    if not parts.hostname:
        raise UnsafeUpstream("The URL has no host.", field="upstream_url")
    if parts.query or parts.fragment:
        raise UnsafeUpstream("The base URL cannot carry a query or fragment.", field="upstream_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeUpstream(
            "The port is not a number between 1 and 65535.", field="upstream_url"
        ) from error
    if not allow_private:
        _check_host(parts.hostname, port, resolve=resolve)
    return url.rstrip("/")


def _check_host(host: str, port: int, *, resolve: bool) -> None:
    if host.lower().rstrip(".") in METADATA_HOSTS or host.lower().endswith(".internal"):
        raise UnsafeUpstream("Cloud metadata hosts are not allowed.", field="upstream_url")
    addresses = [host] if _is_ip(host) else (resolve_host(host, port) if resolve else [])
    for address in addresses:
        if not is_public_address(address):
            raise UnsafeUpstream(
                f"{host} points to a private or reserved address ({address}); upstreams must "
                "be reachable on the public internet.",
                field="upstream_url",
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
