"""The addresses Tollgate shows people. A page uses the origin it was requested on (so
`make run PORT=8301`, a tunnel or a second hostname all advertise themselves); an email or
a job, which has no request, uses SITE_URL."""

from urllib.parse import urlsplit

from django.conf import settings


def site_url(request=None) -> str:
    """Scheme, host and port of the site, without a trailing slash."""
    if request is not None:
        # get_host() is checked against ALLOWED_HOSTS; the scheme follows
        # SECURE_PROXY_SSL_HEADER behind a TLS-terminating proxy.
        return f"{request.scheme}://{request.get_host()}"
    return settings.SITE_URL.rstrip("/")


def gateway_url(request=None) -> str:
    """The gateway's base URL (`…/gw`): GATEWAY_PUBLIC_URL when the gateway has an address
    of its own, else the site's origin and the gateway's path."""
    configured = settings.GATEWAY_PUBLIC_URL.rstrip("/")
    return configured or f"{site_url(request)}/gw"


def gateway_origin() -> str:
    """The origin of a separately addressed gateway ("" when it is the site's own), which
    pages must be allowed to fetch from (Try it)."""
    parts = urlsplit(settings.GATEWAY_PUBLIC_URL)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
