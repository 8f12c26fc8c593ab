from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("console/try-key/", views.try_key, name="try_key"),
    path("console/analytics/", views.provider_analytics, name="provider"),
    path("console/usage/", views.consumer_usage, name="consumer"),
    path("console/usage/<str:public_id>/log/", views.request_log, name="request_log"),
    path("staff/", views.staff_dashboard, name="staff"),
]
