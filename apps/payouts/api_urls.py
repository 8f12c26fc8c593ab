from django.urls import path

from . import api

urlpatterns = [
    path("provider/balance/", api.ProviderBalanceView.as_view(), name="provider-balance"),
    path("provider/payouts/", api.ProviderPayoutListView.as_view(), name="provider-payouts"),
    path(
        "provider/payouts/<str:payout_id>/",
        api.ProviderPayoutDetailView.as_view(),
        name="provider-payout",
    ),
    path(
        "provider/payout-details/",
        api.ProviderPayoutDetailsView.as_view(),
        name="provider-payout-details",
    ),
    path("provider/ledger/", api.ProviderLedgerView.as_view(), name="provider-ledger"),
    path("payouts/run/", api.PayoutRunView.as_view(), name="payouts-run"),
    path(
        "payouts/<str:payout_id>/mark-paid/",
        api.PayoutMarkPaidView.as_view(),
        name="payout-mark-paid",
    ),
]
