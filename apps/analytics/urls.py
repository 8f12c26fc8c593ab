from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("console/try-key/", views.try_key, name="try_key"),
]
