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


def site_domain() -> str:
    """SITE_URL's host and port, as emails name the site ("tollgate.example.com")."""
    return urlsplit(settings.SITE_URL).netloc


def site_from_settings():
    """django.contrib.sites' Site as the settings describe it (SITE_NAME, SITE_URL), unsaved.
    allauth's emails greet with it; `sync_site` keeps the stored row the same."""
    from django.contrib.sites.models import Site

    return Site(pk=settings.SITE_ID, name=settings.SITE_NAME, domain=site_domain())


def sync_site(**kwargs) -> None:
    """After each migrate: the Site row says what the settings say, not "example.com"."""
    from django.contrib.sites.models import Site

    site = site_from_settings()
    Site.objects.update_or_create(pk=site.pk, defaults={"name": site.name, "domain": site.domain})
    Site.objects.clear_cache()
