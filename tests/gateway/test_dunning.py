"""Payment failed → past due → after the grace period the gateway answers 402 → paid →
calls work again at once."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.billing import services as billing
from apps.billing.models import Invoice
from apps.subscriptions.models import Plan

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failed_payment_blocks_after_the_grace_period_and_paying_unblocks(world, staff, settings):
    settings.PAYMENT_GRACE_DAYS = 3
    Plan.objects.filter(pk=world.plan.pk).update(monthly_fee=Decimal("10"))
    world.plan.refresh_from_db()
    world.subscription.refresh_from_db()
    invoice = billing.invoice_first_period(world.subscription)
    assert isinstance(invoice, Invoice)
    billing.invoice_payment_failed(invoice=invoice)
    assert world.call().status_code == 200  # past due, inside the grace period
    with time_machine.travel(timezone.now() + timedelta(days=3, hours=1), tick=True):
        refused = world.call()
        assert refused.status_code == 402 and refused.json()["code"] == "payment_required"
        billing.invoice_mark_paid(invoice=invoice, actor=staff)
        import time

        deadline = time.monotonic() + 2
        while world.call().status_code != 200:
            assert time.monotonic() < deadline, "still refused after the payment"
            time.sleep(0.05)
