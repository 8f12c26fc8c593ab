"""The provider console's Payouts page: balance, next payout, Stripe account, payout
history, earnings per invoice line (paged; htmx swaps the table), monthly CSV statements."""

import logging

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required, require_role
from apps.accounts.notifications import absolute
from apps.core.csv_export import csv_response
from apps.core.errors import ServiceError

from . import selectors, services
from .forms import PayoutDetailsForm
from .periods import month_of, parse_month

logger = logging.getLogger(__name__)
PAGE_SIZE = 20
HISTORY_SIZE = 24


@member_required("see_money")
def overview(request):
    organization = request.organization
    page = Paginator(selectors.earnings_for(organization), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    if request.htmx and request.htmx.target == "earnings":
        return render(request, "payouts/_earnings.html", {"page": page, "now": timezone.now()})
    account = selectors.provider_account(organization)
    summary = selectors.balance_summary(organization, account)
    context = {
        "page": page,
        "account": account,
        "summary": summary,
        "keep_percent": 100 - summary.fee_percent,
        "upcoming": selectors.next_payout(organization, balance=summary.payable, account=account),
        "now": timezone.now(),
        "payouts": selectors.payouts_for(organization)[:HISTORY_SIZE],
        "months": selectors.statement_months(organization),
        "stripe_configured": selectors.stripe_configured(),
        "can_manage": request.membership.can("billing"),
        "payout_minimum": settings.PAYOUT_MINIMUM,
        "payout_details": selectors.payout_details(organization),
    }
    return render(request, "payouts/overview.html", context)


@member_required("see_money")
def statement(request):
    month = request.GET.get("month") or month_of(timezone.now())
    try:
        parse_month(month)
    except ServiceError as error:
        return HttpResponseBadRequest(error.message, content_type="text/plain")
    organization = request.organization
    return csv_response(
        f"tollgate-statement-{organization.slug}-{month}.csv",
        None,  # the statement's rows start with its header
        selectors.statement_rows(organization, month),
    )


def _onboarding_redirect(request):
    try:
        url = services.connect_onboarding_url(
            request.organization,
            refresh_url=absolute(reverse("payouts:connect_refresh")),
            return_url=absolute(reverse("payouts:connect_return")),
            actor=request.user,
        )
    except ServiceError as error:
        messages.error(request, error.message)
    except Exception as error:  # Stripe unreachable or refusing: say so, keep the page
        if not _is_stripe_error(error):
            raise
        logger.warning("Stripe onboarding failed for %s: %s", request.organization, error)
        messages.error(request, "Stripe could not start onboarding just now. Try again.")
    else:
        return redirect(url)
    return redirect("payouts:overview")


def _is_stripe_error(error) -> bool:
    import stripe

    return isinstance(error, stripe.StripeError)


@require_POST
@member_required("billing")
def connect(request):
    return _onboarding_redirect(request)


@member_required("billing")
def connect_refresh(request):
    """Stripe sends the provider here when an onboarding link expired: make a fresh one."""
    return _onboarding_redirect(request)


@member_required("billing")
def connect_return(request):
    """Back from Stripe's onboarding: ask Stripe for the status now (the webhook follows)."""
    try:
        account = services.provider_account_refresh(organization=request.organization)
    except Exception as error:
        if not _is_stripe_error(error):
            raise
        logger.warning("Stripe account refresh failed for %s: %s", request.organization, error)
        account = selectors.provider_account(request.organization)
    if account is not None and account.payouts_enabled:
        messages.success(request, "Your Stripe account is ready: payouts go to it.")
    elif account is not None and account.details_submitted:
        messages.info(request, "Details received. Stripe is reviewing them; we'll email you.")
    else:
        messages.info(request, "Onboarding isn't finished yet: continue whenever you're ready.")
    return redirect("payouts:overview")


@member_required("see_money")
def details(request):
    """Where manual payouts go: shown masked to the roles that see money, changed by the
    roles that handle billing (the number typed again each time)."""
    organization = request.organization
    current = selectors.payout_details(organization)
    form = PayoutDetailsForm(details=current)
    if request.method == "POST":
        require_role(request, "billing")
        form = PayoutDetailsForm(request.POST, details=current)
        if form.is_valid():
            return _save_details(request, form)
    context = {
        "details": current,
        "form": form,
        "history": selectors.payout_details_history(organization),
        "can_manage": request.membership.can("billing"),
        "stripe_configured": selectors.stripe_configured(),
    }
    return render(request, "payouts/details.html", context)


def _save_details(request, form):
    _, changes = services.payout_details_save(
        actor=request.user,
        organization=request.organization,
        values=form.bank_details,
        ip=request.META.get("REMOTE_ADDR", ""),
    )
    if changes:
        messages.success(request, "Payout details saved. The owners have been emailed.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect("payouts:details")
