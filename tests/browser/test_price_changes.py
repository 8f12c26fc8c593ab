"""Price versions, plan changes and the invoice they make, in a browser at 1280 px and
390 px: the provider announces new prices with notice, the consumer sees the coming change
on the subscription page, asks to upgrade, is shown what it charges now and from the period
end, confirms, and reads the upgrade invoice: the lines the confirmation showed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing.models import Invoice
from apps.catalog.models import ApiStatus
from apps.core.money import format_money as money
from apps.subscriptions import services
from tests.billing.usage import record_usage
from tests.browser.fixtures import login, shoot
from tests.catalog.factories import ApiFactory
from tests.factories import PASSWORD, MembershipFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def story(live_site):
    provider = MembershipFactory(organization__name="Scan Corp", user__email="p@scan.test")
    consumer = MembershipFactory(organization__name="Acme", user__email="c@acme.test")
    api = ApiFactory(
        organization=provider.organization, name="Invoice OCR", status=ApiStatus.PUBLISHED
    )
    basic = PlanFactory(
        api=api,
        name="Basic",
        monthly_fee=Decimal("10"),
        included_units=1000,
        unit_price=Decimal("0.01"),
        hard_limit=False,
    )
    pro = PlanFactory(
        api=api,
        name="Pro",
        monthly_fee=Decimal("40"),
        included_units=10000,
        unit_price=Decimal("0.002"),
        hard_limit=False,
    )
    started = timezone.now().replace(microsecond=0) - timedelta(days=3)
    subscription = services.subscription_create(
        actor=consumer.user, organization=consumer.organization, plan=basic, now=started
    ).subscription
    record_usage(subscription, 1_500, at=started + timedelta(days=1))
    services.plan_update(actor=provider.user, plan=basic, monthly_fee=Decimal("16"))
    return {
        "provider": provider.user,
        "consumer": consumer.user,
        "api": api,
        "basic": basic,
        "pro": pro,
        "subscription": subscription,
    }


def test_a_price_change_announced_then_an_upgrade_and_its_invoice(page, phone_page, story):
    basic, api = story["basic"], story["api"]
    login(page, "p@scan.test", PASSWORD)
    page.goto(f"/console/apis/{api.slug}/plans/{basic.public_id}/")
    versions = page.locator("#price-versions")
    assert "v2" in versions.inner_text() and "current" in versions.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#price-versions button[type=submit]")
    page.wait_for_load_state()
    assert "1 subscriber told" in page.content()
    page.goto(f"/console/apis/{api.slug}/plans/{basic.public_id}/")
    shoot(page, "price-versions-1280")

    subscription = story["subscription"]
    consumer_page = page.context.browser.new_context(
        viewport={"width": 1280, "height": 860}, base_url=page.url.split("/console")[0]
    ).new_page()
    login(consumer_page, "c@acme.test", PASSWORD)
    consumer_page.goto(f"/console/subscriptions/{subscription.public_id}/")
    callout = consumer_page.locator("#price-change").inner_text()
    assert "Your prices change on" in callout and "$16 / month" in callout
    assert "Cancel now" in consumer_page.content()
    shoot(consumer_page, "subscription-price-change-1280")
    login(phone_page, "c@acme.test", PASSWORD)
    phone_page.goto(f"/console/subscriptions/{subscription.public_id}/")
    shoot(phone_page, "subscription-price-change-390")

    consumer_page.select_option("#id_plan", value=str(story["pro"].pk))
    consumer_page.click("form[action$='/change/'] button[type=submit]")
    consumer_page.wait_for_selector("#confirm-change")
    # the confirmation shows the invoice the upgrade will make; nothing has changed yet
    said = consumer_page.locator("#charged-now tbody tr").all_inner_texts()
    said_total = consumer_page.locator("#charged-now [data-total]").inner_text()
    assert "$40 / month" in consumer_page.locator("#from-period-end").inner_text()
    assert not Invoice.objects.filter(key__startswith="change:").exists()
    shoot(consumer_page, "plan-change-confirm-1280")
    phone_page.goto(consumer_page.url)
    phone_page.wait_for_selector("#confirm-change")
    shoot(phone_page, "plan-change-confirm-390")
    consumer_page.click("#confirm-change")
    consumer_page.wait_for_load_state()
    assert "You are now on Pro." in consumer_page.content()
    invoice = Invoice.objects.get(key__startswith="change:")
    assert said_total == money(invoice.total)
    assert [row.split("\t")[-1].strip() for row in said] == [
        money(line.amount) for line in invoice.lines.all()
    ]
    consumer_page.goto(f"/console/invoices/{invoice.public_id}/")
    text = consumer_page.locator("table").inner_text()
    assert "Calls beyond the" in text and "$0.01" in text and "-$" in text
    shoot(consumer_page, "upgrade-invoice-1280")
    phone_page.goto(f"/console/invoices/{invoice.public_id}/")
    shoot(phone_page, "upgrade-invoice-390")
