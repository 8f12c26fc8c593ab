from django.urls import path

from . import api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("tokens/", api.TokenListCreateView.as_view(), name="tokens"),
    path("tokens/<str:token_id>/", api.TokenDetailView.as_view(), name="token-detail"),
]
