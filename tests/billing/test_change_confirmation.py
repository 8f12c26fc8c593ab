"""A plan change is confirmed before it is made: the page (a dialog with htmx) shows what
the change charges now, line for line, and what is billed from the period end; nothing
changes until the consumer confirms, and the invoice then says what the page said. The
platform API offers the same preview."""

import re
from decimal import Decimal as D

import pytest

from apps.accounts.roles import Role
from apps.billing.models import Invoice
from apps.subscriptions.models import SubscriptionTerm
from tests.billing.test_pricing_examples import at, moment, subscribe
from tests.billing.usage import record_usage
from tests.conftest import bearer_client
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(subscription) -> str:
    return f"/console/billing/subscriptions/{subscription.public_id}/change-plan/"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _confirm_form(html: str) -> dict:
    form = re.search(r'<form method="post" action="([^"]+/change/)">(.*?)</form>', html, re.S)
    fields = dict(re.findall(r'name="(plan|at_once)" value="([^"]*)"', form.group(2)))
    return {"action": form.group(1), **fields}


@pytest.fixture
def upgraded_halfway(owner, org, basic, pro):
    """docs/pricing.md's example: Basic from Apr 1, 1,200 calls, an upgrade on Apr 16."""
    subscription = subscribe(owner, org, basic, at(4, 1))
    record_usage(subscription, 1_200, at=at(4, 10))
    return subscription


def test_an_upgrade_shows_its_invoice_and_changes_nothing_until_confirmed(
    owner_client, upgraded_halfway, basic, pro
):
    subscription = upgraded_halfway
    terms = SubscriptionTerm.objects.count()
    with moment(at(4, 16)):
        response = owner_client.get(_url(subscription), {"plan": pro.pk})
    html = response.content.decode()
    text = _text(html)
    assert "Upgrade to Pro" in text and "from Basic to Pro" in text
    assert re.findall(r'<td class="num nowrap">([^<]+)</td>', html) == [
        "$7.00",
        "-$5.00",
        "$20.00",
    ]
    assert "Total now $22.00" in text and "Confirm and pay $22.00" in text
    assert "At the period end, May 1, 2026" in text
    assert "$40.00 for the next month of Pro, in advance" in text
    assert "10,000 calls/month included" in text
    assert "<dialog" not in html  # a page of its own without JavaScript
    subscription.refresh_from_db()
    assert subscription.plan == basic and not Invoice.objects.filter(key__startswith="change:")
    assert SubscriptionTerm.objects.count() == terms

    form = _confirm_form(html)
    assert form == {
        "action": f"/console/subscriptions/{subscription.public_id}/change/",
        "plan": str(pro.pk),
    }
    with moment(at(4, 16)):
        owner_client.post(form.pop("action"), form)
    subscription.refresh_from_db()
    assert subscription.plan == pro
    invoice = Invoice.objects.get(key__startswith="change:")
    assert [str(line.amount) for line in invoice.lines.all()] == ["7.00", "-5.00", "20.00"]
    assert invoice.total == D("22.00")


def test_a_downgrade_says_it_waits_for_the_period_end_unless_switched_now(
    owner_client, owner, org, basic, pro
):
    subscription = subscribe(owner, org, pro, at(4, 1))
    record_usage(subscription, 12_000, at=at(4, 10))
    with moment(at(4, 16)):
        html = owner_client.get(_url(subscription), {"plan": basic.pk}).content.decode()
    text = _text(html)
    assert "Downgrade to Basic" in text
    assert "Nothing. You keep Pro until May 1, 2026" in text
    assert "$10.00 for the next month of Basic" in text
    assert "Confirm: switch on May 1" in text
    switch_now = re.search(r'href="([^"]+at_once=on)"', html).group(1).replace("&amp;", "&")
    assert "at_once" not in _confirm_form(html)

    with moment(at(4, 16)):
        html = owner_client.get(switch_now).content.decode()
    text = _text(html)
    # Pro's half includes 5,000: 7,000 × $0.002 = $14.00; Basic's fee for the half left
    assert "$14.00" in text and "$5.00" in text and "Confirm and pay $19.00" in text
    form = _confirm_form(html)
    assert form["at_once"] == "on"
    with moment(at(4, 16)):
        owner_client.post(form.pop("action"), form)
    subscription.refresh_from_db()
    assert subscription.plan == basic
    invoice = Invoice.objects.get(key__startswith="change:")
    assert invoice.total == D("19.00")


def test_a_move_to_a_free_plan_says_so(owner_client, owner, org, basic, free):
    subscription = subscribe(owner, org, basic, at(4, 1))
    with moment(at(4, 16)):
        text = _text(owner_client.get(_url(subscription), {"plan": free.pk}).content.decode())
    assert "Move to Free" in text and "No monthly fee on Free" in text
    assert "Hard limit: stops at 100 calls" in text


def test_with_htmx_the_confirmation_is_a_dialog(owner_client, upgraded_halfway, pro):
    with moment(at(4, 16)):
        html = owner_client.get(_url(upgraded_halfway), {"plan": pro.pk}, **HTMX).content.decode()
    assert html.lstrip().startswith('<dialog id="change-plan" data-modal')
    assert "data-close-dialog" in html and "Confirm and pay $22.00" in html
    assert "<html" not in html


def test_the_subscription_page_asks_for_a_review_not_a_change(owner_client, upgraded_halfway):
    html = owner_client.get(f"/console/subscriptions/{upgraded_halfway.public_id}/")
    html = html.content.decode()
    assert f'<form method="get" action="{_url(upgraded_halfway)}"' in html
    assert "Review change" in html
    assert f'action="/console/subscriptions/{upgraded_halfway.public_id}/change/"' not in html


def test_only_billing_roles_see_it_and_other_organizations_get_404(
    client, org, upgraded_halfway, pro, outsider
):
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER).user
    client.force_login(developer)
    assert client.get(_url(upgraded_halfway), {"plan": pro.pk}).status_code == 403
    client.force_login(outsider)
    assert client.get(_url(upgraded_halfway), {"plan": pro.pk}).status_code == 404


def test_an_unknown_plan_goes_back_with_a_message(owner_client, upgraded_halfway):
    response = owner_client.get(_url(upgraded_halfway), {"plan": "999999"}, follow=True)
    assert "Pick a plan." in response.content.decode()


# --- Platform API -------------------------------------------------------------------------
def test_the_api_previews_a_change_line_for_line(owner, org, upgraded_halfway, pro):
    client, _ = bearer_client(owner, org)
    url = f"/api/v1/subscriptions/{upgraded_halfway.public_id}/change-plan/preview/"
    with moment(at(4, 16)):
        body = client.get(url, {"plan": pro.public_id}).json()
    assert [(line["kind"], line["amount"]) for line in body["lines"]] == [
        ("usage", "7.00"),
        ("proration_credit", "-5.00"),
        ("proration_charge", "20.00"),
    ]
    assert body["total"] == "22.00" and body["currency"] == "USD"
    assert body["at_once"] is True and body["carried"] is False
    assert body["renews_at"].startswith("2026-05-01")
    assert body["renewal"]["monthly_fee"] == "40.00"
    upgraded_halfway.refresh_from_db()
    assert upgraded_halfway.plan.name == "Basic"


def test_the_api_preview_of_a_downgrade_charges_nothing_now(owner, org, pro, basic):
    subscription = subscribe(owner, org, pro, at(4, 1))
    client, _ = bearer_client(owner, org)
    url = f"/api/v1/subscriptions/{subscription.public_id}/change-plan/preview/"
    with moment(at(4, 16)):
        body = client.get(url, {"plan": basic.public_id}).json()
    assert body["lines"] == [] and body["total"] == "0.00" and body["at_once"] is False
    assert body["applies_at"].startswith("2026-05-01")


def test_the_api_preview_is_404_for_others_and_403_without_billing(
    org, other_org, outsider, upgraded_halfway, pro
):
    url = f"/api/v1/subscriptions/{upgraded_halfway.public_id}/change-plan/preview/"
    outsider_client, _ = bearer_client(outsider, other_org)
    assert outsider_client.get(url, {"plan": pro.public_id}).status_code == 404
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER).user
    developer_client, _ = bearer_client(developer, org)
    assert developer_client.get(url, {"plan": pro.public_id}).status_code == 403
