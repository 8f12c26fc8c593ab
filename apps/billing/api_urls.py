from django.urls import path

from . import api

urlpatterns = [
    path(
        "subscriptions/<str:subscription_id>/change-plan/preview/",
        api.ChangePlanPreviewView.as_view(),
        name="subscription-change-plan-preview",
    ),
    path("invoices/", api.InvoiceListView.as_view(), name="invoices"),
    path("invoices/<str:invoice_id>/", api.InvoiceDetailView.as_view(), name="invoice-detail"),
    path(
        "invoices/<str:invoice_id>/refund/", api.InvoiceRefundView.as_view(), name="invoice-refund"
    ),
    path("invoices/<str:invoice_id>/void/", api.InvoiceVoidView.as_view(), name="invoice-void"),
    path(
        "invoices/<str:invoice_id>/mark-uncollectible/",
        api.InvoiceUncollectibleView.as_view(),
        name="invoice-uncollectible",
    ),
    path(
        "invoices/<str:invoice_id>/mark-paid/",
        api.InvoiceMarkPaidView.as_view(),
        name="invoice-mark-paid",
    ),
]
