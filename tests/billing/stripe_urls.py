"""The site's URLs plus dj-stripe's webhook endpoint (`stripe/webhook/<uuid>/`), for tests
that post webhooks before config/urls.py mounts it (`@pytest.mark.urls(...)`)."""

from django.urls import include, path

from config.urls import urlpatterns as site_urlpatterns


def _mounted(namespace: str) -> bool:
    return any(getattr(pattern, "namespace", None) == namespace for pattern in site_urlpatterns)


urlpatterns = list(site_urlpatterns)
if not _mounted("billing"):  # invoice links in notifications need billing's pages
    urlpatterns.append(path("", include("apps.billing.urls")))
if not _mounted("djstripe"):
    urlpatterns.append(path("stripe/", include("djstripe.urls", namespace="djstripe")))
