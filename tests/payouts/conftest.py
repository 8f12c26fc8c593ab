"""Payouts test world: Acme is the provider (its API "OCR"), Globex the consumer paying
Acme's invoices, Initech another provider whose money Acme must never see. `pay()` issues
an invoice through billing and marks it paid, so the ledger is written the real way (the
`invoice_paid` signal after commit). Stripe is faked with `responses` (stripe_objects.py)."""

import itertools
from decimal import Decimal

import pytest
import responses
import stripe
from django.utils import timezone

from apps.accounts.roles import Role
from apps.billing import services as billing_services
from apps.billing.models import Invoice
from apps.subscriptions import rating
from apps.subscriptions.models import Subscription, SubscriptionStatus
from apps.subscriptions.periods import period_bounds
from tests.catalog.factories import ApiFactory
from tests.factories import MembershipFactory, OrganizationFactory
from tests.subscriptions.factories import PlanFactory

from .stripe_objects import SECRET_KEY

_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _no_stripe_by_default(settings):
    """The manual marketplace unless a test asks for Stripe (`stripe_mock`)."""
    settings.STRIPE_SECRET_KEY = ""
    settings.PLATFORM_FEE_PERCENT = Decimal("20")
    settings.PAYOUT_MINIMUM = Decimal("10.00")
    settings.CURRENCY = "USD"
    # earnings payable at once: the holdback has its own tests (test_holdback_and_disputes)
    settings.PAYOUT_HOLD_DAYS = 0


@pytest.fixture
def billing_member(org):
    return MembershipFactory(
        organization=org, role=Role.BILLING, user__email="books@acme.test"
    ).user


@pytest.fixture
def consumer_org(db):
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def ocr(org):
    return ApiFactory(organization=org, name="OCR", slug="ocr")


@pytest.fixture
def rival_api(other_org):
    return ApiFactory(organization=other_org, name="Initech Search", slug="initech-search")


def subscribe(organization, api) -> Subscription:
    plan = PlanFactory(api=api, name="Pro")
    start, end = period_bounds(timezone.now().replace(microsecond=0), 0)
    return Subscription.objects.create(
        organization=organization,
        api=api,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
        period_anchor=start,
        current_period_start=start,
        current_period_end=end,
        manual_invoicing=True,  # invoices by bank transfer, whatever Stripe says
    )


def line(amount: str, description: str = "Calls beyond the 1,000 included") -> rating.Line:
    amount = Decimal(amount)
    kind = rating.PRORATION_CREDIT if amount < 0 else rating.USAGE
    return rating.Line(
        kind=kind,
        description=description,
        quantity=Decimal(1),
        unit_price=None,
        amount=amount,
        period_start=None,
        period_end=None,
    )


@pytest.fixture
def pay(consumer_org, django_capture_on_commit_callbacks):
    """pay(api, "12.34", "5.00", ...) → a paid invoice with those lines (strings or Lines)."""
    subscriptions: dict[int, Subscription] = {}

    def pay(api, *amounts) -> Invoice:
        if api.pk not in subscriptions:
            subscriptions[api.pk] = subscribe(consumer_org, api)
        lines = [amount if isinstance(amount, rating.Line) else line(amount) for amount in amounts]
        invoice = billing_services.invoice_issue(
            subscription=subscriptions[api.pk], key=f"payouts-test:{next(_keys)}", lines=lines
        )
        with django_capture_on_commit_callbacks(execute=True):
            billing_services.invoice_mark_paid(invoice=invoice)
        invoice.refresh_from_db()
        return invoice

    return pay


@pytest.fixture
def refund(staff, django_capture_on_commit_callbacks):
    def refund(invoice: Invoice, amount: str | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return billing_services.invoice_refund(
                invoice=invoice, actor=staff, amount=None if amount is None else Decimal(amount)
            )

    return refund


@pytest.fixture
def stripe_mock(settings, monkeypatch):
    """Stripe configured in test mode, reached only through `responses` (an unexpected call
    fails the test). stripe-python uses its requests client and does not retry or sleep."""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.SITE_URL = "https://tollgate.test"
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient())
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    monkeypatch.setattr(stripe, "enable_telemetry", False)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def _charge_every_amount(settings):
    """Ledger tests pay invoices of a few cents: no minimum charge carries them here (the
    carry is billing's, tested in tests/billing/test_consolidated_invoices.py)."""
    settings.MINIMUM_CHARGE = Decimal(0)
