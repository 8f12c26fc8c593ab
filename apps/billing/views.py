"""Consumer billing pages: invoices (printable), payment method, alerts."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required
from apps.core.errors import ServiceError
from apps.subscriptions.selectors import subscription_for_member

from . import alerts, assembly, services
from .collection import collector
from .forms import AlertsForm
from .models import InvoiceStatus


def _invoices(organization):
    return organization.invoices.select_related("subscription__api").exclude(
        status=InvoiceStatus.DRAFT
    )


@member_required("see_money")
def invoice_list(request):
    page = Paginator(_invoices(request.organization), 25).get_page(request.GET.get("page"))
    open_total = sum(
        i.total for i in _invoices(request.organization).filter(status=InvoiceStatus.OPEN)
    )
    return render(request, "billing/invoice_list.html", {"page": page, "open_total": open_total})


@member_required("see_money")
def invoice_detail(request, public_id: str):
    invoice = (
        _invoices(request.organization)
        .prefetch_related("lines", "refunds")
        .filter(public_id=public_id)
        .first()
    )
    if invoice is None:
        raise Http404("No such invoice.")
    sections = assembly.sections_of(invoice)
    return render(
        request,
        "billing/invoice_detail.html",
        {
            "invoice": invoice,
            "sections": sections,
            "providers": list(
                dict.fromkeys(section.subscription.api.organization.name for section in sections)
            ),
            "manual_instructions": settings.MANUAL_PAYMENT_INSTRUCTIONS,
            "print": request.GET.get("print") == "1",
        },
    )


@member_required("see_money")
def billing_settings(request):
    account = services.billing_account(request.organization)
    return render(
        request,
        "billing/settings.html",
        {
            "account": account,
            "stripe": collector().method == "stripe",
            "manual_instructions": settings.MANUAL_PAYMENT_INSTRUCTIONS,
            "can_bill": request.membership.can("billing"),
        },
    )


@require_POST
@member_required("billing")
def payment_portal(request):
    return_url = request.build_absolute_uri(reverse("billing:settings"))
    url = collector().portal_url(request.organization, return_url)
    if not url:
        messages.info(request, "Cards are managed through Stripe, which is not configured here.")
        return redirect("billing:settings")
    return HttpResponseRedirect(url)


@require_POST
@member_required("billing")
def subscription_alerts(request, public_id: str):
    subscription = subscription_for_member(request.organization, public_id)
    if subscription is None:
        raise Http404("No such subscription.")
    form = AlertsForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError("Check the thresholds.")
        for basis in ("included_units", "spend_cap"):
            alerts.alerts_set(
                actor=request.user,
                subscription=subscription,
                basis=basis,
                percents=form.percents(basis),
            )
    except ServiceError as error:
        messages.error(request, error.message)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, "Alerts saved. Each fires once per period.")
    return redirect(reverse("subscriptions:detail", args=[public_id]) + "#alerts")
