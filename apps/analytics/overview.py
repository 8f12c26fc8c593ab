"""The console's first page: what needs attention on both sides, at a glance."""

from apps.accounts.models import Notification
from apps.accounts.roles import CAPABILITIES
from apps.billing.models import InvoiceStatus
from apps.subscriptions.models import LIVE_STATUSES

from .ranges import parse_range
from .selectors import period_usage


def overview(membership) -> dict:
    organization = membership.organization
    subscriptions = [
        period_usage(s)
        for s in organization.subscriptions.filter(status__in=LIVE_STATUSES).select_related(
            "api", "plan"
        )[:12]
    ]
    open_invoices = organization.invoices.filter(status=InvoiceStatus.OPEN)
    provider = None
    if organization.apis.exists():
        from .provider import provider_dashboard

        board = provider_dashboard(organization, parse_range({"range": "7d"}))
        provider = {
            "calls": board.totals["calls"],
            "error_rate": board.totals["error_rate"],
            "p50": board.totals["p50"],
            "money": board.money,
            "subscribers": board.subscribers[-1]["subscribers"] if board.subscribers else 0,
            "apis": organization.apis.count(),
        }
    return {
        "subscriptions": subscriptions,
        "spend": sum(u.estimate.total for u in subscriptions),
        "open_invoices": list(open_invoices[:5]),
        "notices": Notification.objects.filter(
            organization=organization,
            audience__in=[name for name in CAPABILITIES if membership.can(name)],
        )[:6],
        "provider": provider,
    }
