"""Price versions, plan changes and the invoice they make, in a browser at 1280 px and
390 px: the provider announces new prices with notice, the consumer sees the coming change
on the subscription page, upgrades, and reads the upgrade invoice line by line."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.billing.models import Invoice
from apps.catalog.models import ApiStatus
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
    consumer_page.wait_for_load_state()
    assert "You are now on Pro." in consumer_page.content()
    invoice = Invoice.objects.get(key__startswith="change:")
    consumer_page.goto(f"/console/invoices/{invoice.public_id}/")
    text = consumer_page.locator("table").inner_text()
    assert "Calls beyond the" in text and "$0.01" in text and "-$" in text
    shoot(consumer_page, "upgrade-invoice-1280")
    phone_page.goto(f"/console/invoices/{invoice.public_id}/")
    shoot(phone_page, "upgrade-invoice-390")
