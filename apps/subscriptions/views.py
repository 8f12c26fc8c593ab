"""Pages: the pricing table on API pages, subscribing, the consumer's subscriptions, and the
provider's plan editor and subscriber list."""

from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.decorators import member_required
from apps.catalog import selectors as catalog_selectors
from apps.catalog.console_views import provider_api_or_404, render_provider_page
from apps.core.dates import parse_day
from apps.core.errors import ServiceError

from . import selectors, services
from .forms import ChangePlanForm, PlanForm, SpendCapForm
from .pricing import describe_plan
from .terms import current_version, subscription_terms, version_terms


# --- The pricing table (a section of the catalog's API page) --------------------------------
def pricing_section(request, api):
    plans = list(selectors.public_plans(api))
    current = None
    if request.user.is_authenticated and request.organization:
        current = selectors.live_subscription(request.organization, api)
    return {
        "key": "pricing",
        "tab": "Pricing",
        "template": "subscriptions/_pricing.html",
        "header_template": "subscriptions/_subscribe_button.html",
        "plans": [(plan, describe_plan(plan)) for plan in plans],
        "current_subscription": current,
    }


def private_plan(request, slug: str, token: str):
    api = catalog_selectors.api_for_viewer(slug, request.user)
    plan = selectors.plan_by_invite(api, token) if api else None
    if plan is None:
        raise Http404("This invite link is not valid.")
    return render(
        request,
        "subscriptions/private_plan.html",
        {"api": api, "plan": plan, "description": describe_plan(plan), "token": token},
    )


@require_POST
@login_required
def subscribe(request, slug: str):
    api = catalog_selectors.api_for_viewer(slug, request.user)
    if api is None or request.organization is None:
        raise Http404("No such API.")
    plan = get_object_or_404(api.plans, public_id=request.POST.get("plan", ""))
    try:
        result = services.subscription_create(
            actor=request.user,
            organization=request.organization,
            plan=plan,
            invite_token=request.POST.get("invite", ""),
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(reverse("catalog:api", args=[api.slug]) + "#tab-pricing")
    if result.checkout_url:
        return HttpResponseRedirect(result.checkout_url)
    messages.success(request, f"Subscribed to {api.name} ({plan.name}).")
    return redirect("subscriptions:detail", result.subscription.public_id)


# --- Consumer console ---------------------------------------------------------------------
@member_required("view")
def subscription_list(request):
    subscriptions = selectors.subscriptions_of(request.organization)
    return render(request, "subscriptions/list.html", {"subscriptions": subscriptions})


def _subscription_or_404(request, public_id: str):
    subscription = selectors.subscription_for_member(request.organization, public_id)
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


# Later apps add panels to a subscription's page: functions (request, subscription) -> dict
# with "template" and context (usage, invoices, alerts).
subscription_panels: list = []
# Billing sets this (it sits above subscriptions): (actor, subscription, plan, at_once) ->
# the preview of the invoice a plan change makes.
plan_change_preview = None


@member_required("view")
def subscription_detail(request, public_id: str):
    subscription = _subscription_or_404(request, public_id)
    other_plans = selectors.public_plans(subscription.api).exclude(pk=subscription.plan_id)
    panels = [p for p in (panel(request, subscription) for panel in subscription_panels) if p]
    return render(
        request,
        "subscriptions/detail.html",
        {
            "subscription": subscription,
            # what this subscriber pays: its own price version, grandfathered
            "description": describe_plan(subscription_terms(subscription)),
            "price_changes": [
                (
                    change,
                    describe_plan(version_terms(change.from_version)),
                    describe_plan(version_terms(change.to_version)),
                )
                for change in selectors.coming_price_changes(subscription)
            ],
            "change_form": ChangePlanForm(plans=other_plans),
            "has_other_plans": other_plans.exists(),
            "cap_form": SpendCapForm(initial={"spend_cap": subscription.spend_cap}),
            "can_bill": request.membership.can("billing"),
            "panels": panels,
        },
    )


ACTIONS = {
    "cancel": lambda request, sub: services.subscription_cancel(
        actor=request.user, subscription=sub
    ),
    "cancel-now": lambda request, sub: services.subscription_cancel(
        actor=request.user, subscription=sub, at_once=True
    ),
    "resume": lambda request, sub: services.subscription_resume(
        actor=request.user, subscription=sub
    ),
}
DONE = {
    "cancel": "Canceled.",
    "cancel-now": "Canceled. The final invoice bills the usage to date.",
    "resume": "The subscription continues.",
    "cap": "Spend cap saved.",
}


@require_POST
@member_required("billing")
def subscription_action(request, public_id: str, action: str):
    subscription = _subscription_or_404(request, public_id)
    try:
        message = _run_action(request, subscription, action)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, message)
    return redirect("subscriptions:detail", subscription.public_id)


def _run_action(request, subscription, action: str) -> str:
    if action in ACTIONS:
        subscription = ACTIONS[action](request, subscription)
        if action == "cancel" and subscription.cancel_at_period_end:
            return (
                f"Your subscription ends on "
                f"{subscription.current_period_end:%b %-d, %Y}; calls work until then."
            )
        return DONE[action]
    if action == "cap":
        form = SpendCapForm(request.POST)
        if not form.is_valid():
            raise ServiceError("Enter an amount, or leave it empty for no cap.")
        services.subscription_set_spend_cap(
            actor=request.user, subscription=subscription, spend_cap=form.cleaned_data["spend_cap"]
        )
        return DONE["cap"]
    raise Http404("Unknown action.")


@member_required("billing")
def subscription_change(request, public_id: str):
    """A plan change asks first: the confirmation page shows what the change bills now
    (its invoice, line for line, from a rolled-back run of the change) and what each
    period costs from the period end. Only a post with `confirm` changes the plan."""
    subscription = _subscription_or_404(request, public_id)
    form = ChangePlanForm(
        request.POST or request.GET or None,
        plans=subscription.api.plans.filter(archived_at=None),
    )
    if not form.is_valid():
        messages.error(request, "Pick a plan.")
        return redirect("subscriptions:detail", subscription.public_id)
    plan, at_once = form.cleaned_data["plan"], form.cleaned_data["at_once"]
    try:
        if request.method == "POST" and request.POST.get("confirm"):
            message = _change_plan(request, subscription, plan, at_once)
        else:
            return _confirm_change(request, subscription, plan, at_once)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, message)
    return redirect("subscriptions:detail", subscription.public_id)


def _confirm_change(request, subscription, plan, at_once: bool):
    preview = plan_change_preview(
        actor=request.user, subscription=subscription, plan=plan, at_once=at_once
    )
    return render(
        request,
        "subscriptions/change_confirm.html",
        {
            "subscription": subscription,
            "plan": plan,
            "preview": preview,
            "asked_now": at_once,
            "current": describe_plan(subscription_terms(subscription)),
            "description": describe_plan(version_terms(current_version(plan))),
        },
    )


def _change_plan(request, subscription, plan, at_once: bool) -> str:
    subscription = services.subscription_change_plan(
        actor=request.user, subscription=subscription, plan=plan, at_once=at_once
    )
    if subscription.scheduled_plan_id:
        return (
            f"You move to {subscription.scheduled_plan.name} on "
            f"{subscription.current_period_end:%b %-d, %Y}."
        )
    return f"You are now on {subscription.plan.name}."


# --- Provider console ---------------------------------------------------------------------
@member_required("view")
def provider_plans(request, slug: str):
    api = provider_api_or_404(request, slug)
    form = PlanForm(request.POST or None)
    can_develop = request.membership.can("develop")
    if request.method == "POST" and can_develop and form.is_valid():
        try:
            plan = services.plan_create(actor=request.user, api=api, **form.plan_data())
        except ServiceError as error:
            _plan_errors(form, error)
        else:
            messages.success(request, f"Plan “{plan.name}” created.")
            return redirect("subscriptions:provider_plans", api.slug)
    plans = [(plan, describe_plan(plan)) for plan in selectors.provider_plans(api)]
    return render_provider_page(
        request,
        "subscriptions/provider_plans.html",
        api,
        {"plans": plans, "form": form, "can_develop": can_develop},
    )


def _plan_errors(form, error: ServiceError) -> None:
    errors = getattr(error, "errors", None) or {error.field: error.message}
    mapping = {"unit": "custom_unit", "tiers": "tiers_text"}
    for field, message in errors.items():
        field = mapping.get(field, field)
        form.add_error(field if field in form.fields else None, message)


@member_required("develop")
def provider_plan_edit(request, slug: str, plan_id: str):
    api = provider_api_or_404(request, slug)
    plan = get_object_or_404(api.plans, public_id=plan_id)
    form = PlanForm(request.POST or None, instance=plan)
    if request.method == "POST" and form.is_valid():
        try:
            services.plan_update(actor=request.user, plan=plan, **form.plan_data())
        except ServiceError as error:
            _plan_errors(form, error)
        else:
            messages.success(request, f"Plan “{plan.name}” saved.")
            return redirect("subscriptions:provider_plans", api.slug)
    invite_url = request.build_absolute_uri(
        reverse("subscriptions:private_plan", args=[api.slug, plan.invite_token])
    )
    versions = selectors.price_versions_of(plan)
    current = versions[0] if versions else None
    earliest = timezone.now() + timedelta(days=services.price_change_notice_days())
    return render_provider_page(
        request,
        "subscriptions/provider_plan_edit.html",
        api,
        {
            "plan": plan,
            "form": form,
            "invite_url": invite_url,
            "description": describe_plan(plan),
            "versions": [(v, describe_plan(version_terms(v))) for v in versions],
            "to_migrate": sum(
                v.subscriber_count - v.moving_count for v in versions if v is not current
            ),
            "notice_days": services.price_change_notice_days(),
            "earliest": (earliest + timedelta(days=1)).date(),
        },
    )


def _migrate_prices(request, plan):
    day = parse_day(
        request.POST.get("effective_at"), message="Pick the day the new prices take effect."
    )
    effective_at = datetime.combine(day, time.min, tzinfo=UTC)
    changes = services.plan_prices_migrate(actor=request.user, plan=plan, effective_at=effective_at)
    messages.info(
        request,
        f"{len(changes)} subscriber{'s' if len(changes) != 1 else ''} told: "
        f"the new prices apply to them from {effective_at:%b %-d, %Y}.",
    )


PLAN_ACTIONS = {
    "migrate-prices": _migrate_prices,
    "archive": lambda r, p: services.plan_archive(actor=r.user, plan=p),
    "unarchive": lambda r, p: services.plan_archive(actor=r.user, plan=p, archived=False),
    "delete": lambda r, p: services.plan_delete(actor=r.user, plan=p),
    "rotate-invite": lambda r, p: services.plan_rotate_invite(actor=r.user, plan=p),
}


@require_POST
@member_required("develop")
def provider_plan_action(request, slug: str, plan_id: str, action: str):
    api = provider_api_or_404(request, slug)
    plan = get_object_or_404(api.plans, public_id=plan_id)
    if action not in PLAN_ACTIONS:
        raise Http404("Unknown action.")
    try:
        PLAN_ACTIONS[action](request, plan)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Plan “{plan.name}”: {action.replace('-', ' ')} done.")
    return redirect("subscriptions:provider_plans", api.slug)


@member_required("view")
def provider_subscribers(request, slug: str):
    api = provider_api_or_404(request, slug)
    return render_provider_page(
        request,
        "subscriptions/provider_subscribers.html",
        api,
        {"subscriptions": selectors.subscribers_of(api)},
    )
