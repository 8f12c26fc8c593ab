from django.urls import path

from . import views

app_name = "payouts"

urlpatterns = [
    path("payouts/", views.overview, name="overview"),
    path("payouts/details/", views.details, name="details"),
    path("payouts/statement.csv", views.statement, name="statement"),
    path("payouts/connect/", views.connect, name="connect"),
    path("payouts/connect/return/", views.connect_return, name="connect_return"),
    path("payouts/connect/refresh/", views.connect_refresh, name="connect_refresh"),
]
