from django.urls import path

from . import api

urlpatterns = [
    path("apis/", api.ApiListCreateView.as_view(), name="apis"),
    path("apis/<slug:slug>/", api.ApiDetailView.as_view(), name="api-detail"),
    path("apis/<slug:slug>/submit/", api.ApiSubmitView.as_view(), name="api-submit"),
    path("apis/<slug:slug>/approve/", api.ApiApproveView.as_view(), name="api-approve"),
    path("apis/<slug:slug>/reject/", api.ApiRejectView.as_view(), name="api-reject"),
    path("apis/<slug:slug>/suspend/", api.ApiSuspendView.as_view(), name="api-suspend"),
    path("apis/<slug:slug>/restore/", api.ApiRestoreView.as_view(), name="api-restore"),
]
