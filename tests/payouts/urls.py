"""The project's URLs plus payouts (console pages at console/, API at api/v1/) and
dj-stripe's webhook endpoint, mounted where config/urls.py will mount them, for tests that
run before the integrator wires the app (`@pytest.mark.urls("tests.payouts.urls")`)."""

from django.urls import include, path

from config import api_urls as project_api_urls
from config.urls import urlpatterns as project_urlpatterns


def _mounted(patterns, namespace: str) -> bool:
    return any(getattr(pattern, "namespace", None) == namespace for pattern in patterns)


api_patterns = list(project_api_urls.urlpatterns)
if not any("payouts" in str(getattr(p, "urlconf_name", "")) for p in api_patterns):
    api_patterns.insert(0, path("", include("apps.payouts.api_urls")))

urlpatterns = [
    path("api/v1/", include((api_patterns, "api"))),
    *(pattern for pattern in project_urlpatterns if str(pattern.pattern) != "api/v1/"),
]
if not _mounted(project_urlpatterns, "payouts"):
    urlpatterns.insert(0, path("console/", include("apps.payouts.urls")))
if not _mounted(project_urlpatterns, "djstripe"):
    urlpatterns.append(path("stripe/", include("djstripe.urls", namespace="djstripe")))
