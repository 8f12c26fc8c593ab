"""The project's URLs plus /metrics, mounted where config/urls.py will mount it, for tests
that run before the integrator wires the view."""

from django.urls import path

from apps.core.metrics import metrics
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("metrics", metrics, name="metrics"), *project_urlpatterns]
