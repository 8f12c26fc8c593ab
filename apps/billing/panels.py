from .models import UsageAlert


def billing_panel(request, subscription):
    """Alerts and this subscription's invoices, on the subscription's page (money: only
    for the roles that see it)."""
    if not request.membership.can("see_money"):
        return None
    alerts = {
        basis: sorted(a.percent for a in subscription.alerts.all() if a.basis == basis)
        for basis in UsageAlert.Basis.values
    }
    return {
        "template": "billing/_subscription_panel.html",
        "alerts": alerts,
        "invoices": subscription.invoices.order_by("-issued_at")[:6],
        "can_bill": request.membership.can("billing"),
    }
