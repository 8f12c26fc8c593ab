"""The site without the payouts pages (a half-wired install), for one test."""

from django.urls import include, path

urlpatterns = [path("", include("apps.billing.urls"))]
