"""The signed-in console's own pages (`console:` namespace); each app adds its sections."""

from django.urls import path

from apps.accounts import console_views

app_name = "console"

urlpatterns = [
    path("", console_views.home, name="home"),
]
