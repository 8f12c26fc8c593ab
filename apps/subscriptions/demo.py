"""Demo plans covering every pricing model, and the demo consumer's subscriptions."""

from datetime import timedelta
from decimal import Decimal as D

from django.utils import timezone

from apps.catalog.models import Api

from . import services
from .models import Plan, PlanVisibility, Subscription

PLANS = {
    "finance-validators": [
        {
            "name": "Free",
            "description": "Try it out.",
            "included_units": 500,
            "hard_limit": True,
            "rate_limit_per_second": 2,
            "rate_limit_per_minute": 60,
        },
        {
            "name": "Starter",
            "description": "For a live checkout form.",
            "monthly_fee": D("19"),
            "included_units": 20_000,
            "unit_price": D("0.0005"),
            "hard_limit": False,
            "rate_limit_per_second": 10,
            "recommended": True,
            "trial_days": 14,
        },
        {
            "name": "Scale",
            "description": "Pay as you go, cheaper in volume.",
            "included_units": 0,
            "hard_limit": False,
            "rate_limit_per_second": 50,
            "tiers": [
                {"up_to": 100_000, "unit_price": "0.0008"},
                {"up_to": 1_000_000, "unit_price": "0.0005"},
                {"up_to": None, "unit_price": "0.0002"},
            ],
        },
        {
            "name": "Enterprise",
            "description": "Negotiated terms.",
            "monthly_fee": D("499"),
            "included_units": 5_000_000,
            "unit_price": D("0.0001"),
            "hard_limit": False,
            "visibility": PlanVisibility.PRIVATE,
        },
    ],
    "text-stats": [
        {
            "name": "Free",
            "included_units": 1_000,
            "unit": "1k characters",
            "max_units_per_call": D(100),
            "hard_limit": True,
            "rate_limit_per_second": 5,
        },
        {
            "name": "Pro",
            "monthly_fee": D("9"),
            "included_units": 50_000,
            "unit": "1k characters",
            "max_units_per_call": D(100),
            "unit_price": D("0.0002"),
            "hard_limit": False,
            "rate_limit_per_second": 20,
            "recommended": True,
        },
    ],
    "qr-codes": [
        {"name": "Free", "included_units": 1_000, "hard_limit": True, "rate_limit_per_second": 5},
        {
            "name": "Pay per call",
            "unit_price": D("0.002"),
            "included_units": 0,
            "hard_limit": False,
            "rate_limit_per_second": 25,
            "recommended": True,
        },
        {
            "name": "Per second",
            "description": "Billed by rendering time.",
            "unit": "second",
            "max_units_per_call": D(30),
            "unit_price": D("0.01"),
            "included_units": 0,
            "hard_limit": False,
        },
    ],
    "echo-chat": [
        {
            "name": "Free",
            "included_units": 10_000,
            "unit": "token",
            "max_units_per_call": D(2_000),
            "hard_limit": True,
            "rate_limit_per_minute": 30,
        },
        {
            "name": "Pay per token",
            "unit": "token",
            "max_units_per_call": D(20_000),
            "unit_price": D("0.00002"),
            "included_units": 0,
            "hard_limit": False,
            "rate_limit_per_second": 10,
            "recommended": True,
        },
    ],
}


def seed(demo: dict) -> None:
    provider = demo["provider_user"]
    for slug, plans in PLANS.items():
        api = Api.objects.get(slug=slug)
        for position, terms in enumerate(plans):
            _plan(provider, api, position, terms)
    consumer, organization = demo["consumer_user"], demo["consumer_org"]
    for slug, plan_name in (
        ("finance-validators", "Free"),
        ("echo-chat", "Free"),
        ("qr-codes", "Pay per call"),
    ):
        plan = Plan.objects.get(api__slug=slug, name=plan_name)
        if not Subscription.objects.filter(
            organization=organization, api=plan.api, status__in=["active", "trialing"]
        ).exists():
            # started a week ago, so the dashboards have a week of traffic to show
            started = timezone.now() - timedelta(days=8)
            result = services.subscription_create(
                actor=consumer, organization=organization, plan=plan, now=started
            )
            Subscription.objects.filter(pk=result.subscription.pk).update(created_at=started)
    demo["api_slug"] = "finance-validators"


def _plan(provider, api, position: int, terms: dict) -> Plan:
    plan = api.plans.filter(name=terms["name"]).first()
    values = {"position": position, **terms}
    if plan is None:
        return services.plan_create(actor=provider, api=api, **values)
    return services.plan_update(actor=provider, plan=plan, **values)
