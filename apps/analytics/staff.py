"""The staff's marketplace overview."""

from decimal import Decimal

from django.apps import apps
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce

from apps.billing.models import Invoice, InvoiceLine, InvoiceStatus
from apps.catalog.models import ApiStatus
from apps.catalog.selectors import review_queue
from apps.metering.models import UsageDaily
from apps.subscriptions.models import Subscription

from .ranges import Range

OUTLIER_MIN_CALLS = 100
OUTLIER_ERROR_RATE = 5


def staff_dashboard(rng: Range) -> dict:
    issued = InvoiceLine.objects.filter(
        invoice__issued_at__gte=rng.start,
        invoice__issued_at__lt=rng.end,
        invoice__status__in=[InvoiceStatus.OPEN, InvoiceStatus.PAID],
    )
    return {
        "gross_billed": issued.aggregate(v=Coalesce(Sum("amount"), Decimal(0)))["v"],
        "collected": issued.filter(invoice__status=InvoiceStatus.PAID).aggregate(
            v=Coalesce(Sum("amount"), Decimal(0))
        )["v"],
        **_payouts(rng),
        "subscriptions": dict(Subscription.objects.values_list("status").annotate(n=Count("id"))),
        "pending_review": review_queue()[:10],
        "failing_payments": Invoice.objects.filter(
            status=InvoiceStatus.OPEN, payment_failed_at__isnull=False
        )
        .select_related("organization", "subscription__api")
        .order_by("payment_failed_at")[:10],
        "outliers": _outliers(rng),
        "published_apis": apps.get_model("catalog", "Api")
        .objects.filter(status=ApiStatus.PUBLISHED)
        .count(),
    }


def _payouts(rng: Range) -> dict:
    if not apps.is_installed("apps.payouts"):
        return {"platform_fee": None, "payouts_due": None}
    from apps.payouts.selectors import marketplace_summary

    return marketplace_summary(rng.start, rng.end)


def _outliers(rng: Range) -> list[dict]:
    """APIs whose server and gateway error rate stands out over the range."""
    rows = (
        UsageDaily.objects.filter(day__gte=rng.start.date(), day__lt=rng.end.date())
        .values("subscription__api__name", "subscription__api__slug")
        .annotate(calls=Sum("calls"), bad=Sum(F("status_5xx") + F("gateway_errors")))
        .filter(calls__gte=OUTLIER_MIN_CALLS)
    )
    outliers = [dict(r, rate=r["bad"] * 100 / r["calls"]) for r in rows]
    return sorted(
        [r for r in outliers if r["rate"] >= OUTLIER_ERROR_RATE], key=lambda r: -r["rate"]
    )[:10]
