from django.urls import path

from . import api

urlpatterns = [
    path("keys/", api.KeyListCreateView.as_view(), name="keys"),
    path("keys/<str:key_id>/", api.KeyDetailView.as_view(), name="key-detail"),
    path("keys/<str:key_id>/rotate/", api.KeyRotateView.as_view(), name="key-rotate"),
]
