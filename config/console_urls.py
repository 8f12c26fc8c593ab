"""The signed-in console's own pages (`console:` namespace); each app adds its sections."""

from django.urls import path

from apps.analytics import views as analytics_views

app_name = "console"

urlpatterns = [
    path("", analytics_views.console_home, name="home"),
]
