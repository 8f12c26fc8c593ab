"""Invoice lines read the same on the invoice and in the admin: unit prices with the decimals
they need ($0.0004, $29.00), never blank and never the stored 0.000400."""

import re

import pytest

from apps.billing.models import Invoice, InvoiceLine
from tests.billing.test_invoicing import plan, subscription  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(subscription):  # noqa: F811
    invoice = Invoice.objects.get(subscription=subscription)
    fee = invoice.lines.get()
    InvoiceLine.objects.create(
        invoice=invoice,
        description="Usage beyond the included calls",
        quantity=2500,
        unit_price="0.000400",
        amount="1.00",
        provider=fee.provider,
        api=fee.api,
        kind="usage",
        position=1,
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        description="An adjustment with no unit price",
        quantity=1,
        unit_price=None,
        amount="0.00",
        provider=fee.provider,
        api=fee.api,
        kind="credit",
        position=2,
    )
    return invoice


def _cells(html: str, label: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", cell).strip()
        for cell in re.findall(rf'data-label="{label}">(.*?)</td>', html, re.S)
    ]


def test_the_invoice_shows_every_unit_price_with_the_decimals_it_needs(owner_client, invoice):
    html = owner_client.get(f"/console/invoices/{invoice.public_id}/").content.decode()
    assert _cells(html, "Unit price") == ["$29.00", "$0.0004", "—"]
    assert "0.000400" not in html


def test_the_admin_shows_the_lines_as_the_invoice_does(client, staff, invoice):
    client.force_login(staff)
    html = client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    for shown in ("$0.0004", "$29.00", "2,500", "$1.00"):
        assert shown in html
    assert "0.000400" not in html and "2500.000000" not in html
