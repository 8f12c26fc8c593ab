from django.urls import path

from . import views

app_name = "keys"

urlpatterns = [
    path("keys/", views.key_list, name="list"),
    path("keys/<str:public_id>/", views.key_detail, name="detail"),
    path("keys/<str:public_id>/rotate/", views.key_rotate, name="rotate"),
    path("keys/<str:public_id>/revoke/", views.key_revoke, name="revoke"),
    path("keys/<str:public_id>/restrict/", views.key_restrict, name="restrict"),
]
