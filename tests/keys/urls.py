"""The project's URLs plus the keys app, mounted where config/urls.py and
config/api_urls.py will mount it, for tests that run before the integrator wires it."""

from django.urls import include, path

from config import api_urls as project_api_urls
from config.urls import urlpatterns as project_urlpatterns

api_patterns = [path("", include("apps.keys.api_urls")), *project_api_urls.urlpatterns]

urlpatterns = [
    path("console/", include("apps.keys.urls")),
    path("api/v1/", include((api_patterns, "api"))),
    *(pattern for pattern in project_urlpatterns if str(pattern.pattern) != "api/v1/"),
]
