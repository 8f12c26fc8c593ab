"""The demo APIs mounted where the project mounts them, for tests that run before
config/urls.py includes the app."""

from django.urls import include, path

urlpatterns = [path("demo-upstreams/", include("apps.demo_upstreams.urls"))]
