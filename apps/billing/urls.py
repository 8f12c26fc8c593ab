from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("console/invoices/", views.invoice_list, name="invoices"),
    path("console/invoices/<str:public_id>/", views.invoice_detail, name="invoice"),
    path("console/billing/", views.billing_settings, name="settings"),
    path("console/billing/portal/", views.payment_portal, name="portal"),
    path(
        "console/billing/subscriptions/<str:public_id>/alerts/",
        views.subscription_alerts,
        name="alerts",
    ),
]
