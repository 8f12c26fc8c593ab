from django.urls import path

from . import api

urlpatterns = [
    path("invoices/", api.InvoiceListView.as_view(), name="invoices"),
    path("invoices/<str:invoice_id>/", api.InvoiceDetailView.as_view(), name="invoice-detail"),
]
