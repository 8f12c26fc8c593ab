"""A consumer's consolidated invoice in a browser at 1280 px and 390 px: one invoice for the
billing date, a section per subscription (two providers), and a carried amount collected
with a link to the invoice it came from."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.billing import runs
from apps.billing.models import Invoice, InvoiceStatus
from apps.catalog.models import ApiStatus
from apps.subscriptions import services
from tests.billing.usage import record_usage
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory
from tests.factories import PASSWORD, MembershipFactory, OrganizationFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.browser


def _plan(provider, api_name, fee, unit_price="0"):
    api = ApiFactory(organization=provider, name=api_name, status=ApiStatus.PUBLISHED)
    return PlanFactory(
        api=api,
        name="Standard",
        monthly_fee=Decimal(fee),
        included_units=0,
        unit_price=Decimal(unit_price),
        hard_limit=False,
    )


@pytest.fixture
def invoices(live_site):
    consumer = MembershipFactory(organization__name="Acme", user__email="c@acme.test")
    ocr, llm = OrganizationFactory(name="Scan Corp"), OrganizationFactory(name="Chat Labs")
    org, user = consumer.organization, consumer.user
    started = timezone.now().replace(microsecond=0) - timedelta(days=70)
    metered = services.subscription_create(
        actor=user, organization=org, plan=_plan(ocr, "Invoice OCR", "0", "0.01"), now=started
    ).subscription
    record_usage(metered, 9, at=started + timedelta(days=2))  # $0.09: carried
    with time_machine.travel(metered.current_period_end + timedelta(minutes=5)):
        runs.close_due_periods()
    metered.refresh_from_db()
    later = metered.current_period_start + timedelta(days=6)
    for plan in (_plan(ocr, "PDF Split", "9"), _plan(llm, "Chat Completions", "25", "0.002")):
        services.subscription_create(actor=user, organization=org, plan=plan, now=later)
    record_usage(metered, 250, at=metered.current_period_start + timedelta(days=2))
    with time_machine.travel(metered.current_period_end + timedelta(minutes=5)):
        runs.close_due_periods()
    closes = Invoice.objects.filter(organization=org, key__startswith="period:").order_by("pk")
    return closes[0], closes[1]


def test_the_consolidated_invoice_shows_a_section_per_subscription(page, phone_page, invoices):
    carried, collecting = invoices
    assert carried.status == InvoiceStatus.CARRIED and collecting.carried_from.get() == carried
    for viewer, width in ((page, 1280), (phone_page, 390)):
        login(viewer, "c@acme.test", PASSWORD)
        viewer.goto(f"/console/invoices/{collecting.public_id}/")
        sections = viewer.locator("tbody.invoice-section")
        assert sections.count() == 3
        heads = viewer.locator(".section-head").all_inner_texts()
        assert "Invoice OCR" in heads[0] and "Scan Corp" in heads[0]
        assert "Chat Completions" in heads[2] and "Chat Labs" in heads[2]
        text = sections.nth(0).inner_text()
        assert f"Carried from {carried.number}" in text and "$0.09" in text
        assert "on behalf of Scan Corp, Chat Labs" in viewer.content()
        shoot(viewer, f"consolidated-invoice-{width}")
        viewer.click(f"text={carried.number}")
        viewer.wait_for_load_state()
        memo = viewer.locator("[data-memo]").inner_text()
        assert "Below the minimum charge of $0.50" in memo and collecting.number in memo
        shoot(viewer, f"carried-invoice-{width}")
