"""The project's URLs plus the webhooks app, mounted where config/urls.py and
config/api_urls.py will mount it, for tests that run before the integrator wires it."""

from django.urls import include, path

from config import api_urls as project_api_urls
from config.urls import urlpatterns as project_urlpatterns


def _mounted(namespace: str) -> bool:
    return any(getattr(pattern, "namespace", None) == namespace for pattern in project_urlpatterns)


def _api_mounted() -> bool:
    return any(
        "webhooks/" in str(getattr(pattern, "pattern", ""))
        or getattr(pattern, "urlconf_name", None) == "apps.webhooks.api_urls"
        for pattern in project_api_urls.urlpatterns
    )


api_patterns = list(project_api_urls.urlpatterns)
if not _api_mounted():
    api_patterns.insert(0, path("", include("apps.webhooks.api_urls")))

urlpatterns = [
    path("api/v1/", include((api_patterns, "api"))),
    *(pattern for pattern in project_urlpatterns if str(pattern.pattern) != "api/v1/"),
]
if not _mounted("webhooks"):
    urlpatterns.insert(0, path("console/", include("apps.webhooks.urls")))
