"""The role matrix (apps/accounts/roles.py) enforced on every money page and endpoint, for
every role: the refused get a 403 that says why and carries none of the money, the allowed
get the money. The reference below is written from docs/consumers.md ("Roles"), not from
the code: money (invoices, billing settings, payouts, statements, the provider balance and
ledger, revenue, estimates, spend caps, paid changes) is for owners, admins and billing."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from apps.accounts.roles import CAPABILITIES, MATRIX, ROLE_HELP, Role
from apps.billing import services as billing_services
from apps.catalog.models import ApiStatus
from apps.payouts import services as payout_services
from apps.payouts.models import PayoutDetails
from apps.subscriptions import rating
from apps.subscriptions import services as subscription_services
from apps.subscriptions.models import Subscription
from tests.billing.test_invoicing import _usage
from tests.catalog.factories import ApiFactory
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, OrganizationFactory
from tests.subscriptions.factories import PlanFactory

pytestmark = pytest.mark.django_db

MONEY_ROLES = {Role.OWNER, Role.ADMIN, Role.BILLING}  # from the docs' table
ROLES = [Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.BILLING]
FEE = "1234.56"  # Acme's paid plan at Initech (a public price): its first invoice
ESTIMATE = "1244.56"  # this period's estimate: the fee and 2,000 calls beyond at $0.01
GROSS = "972.21"  # what Globex paid for Acme's API: Acme's revenue
SHARE = "777.77"  # Acme's 80 % of it: earnings, ledger, the payout
IBAN = "DE89370400440532013000"  # where Acme's payouts go: its payout details
MASKED_IBAN = "DE89 •••• •••• •••• 3000"


class World:
    """Acme (the members under test) consumes Initech's paid API and provides its own,
    which Globex paid for; Acme's balance was paid out."""

    def __init__(self, org, owner, capture):
        self.org = org
        self.members = {Role.OWNER: owner}
        for role in (Role.ADMIN, Role.DEVELOPER, Role.BILLING):
            self.members[role] = MembershipFactory(
                organization=org, role=role, user__email=f"{role}@acme.test"
            ).user
        initech = OrganizationFactory(name="Initech")
        plan = PlanFactory(
            api=ApiFactory(organization=initech, name="Search", status=ApiStatus.PUBLISHED),
            name="Pro",
            monthly_fee=Decimal(FEE),
            included_units=1000,
            unit_price=Decimal("0.01"),
            hard_limit=False,
        )
        self.cheaper = PlanFactory(api=plan.api, name="Lite", monthly_fee=Decimal("5.00"))
        with capture(execute=True):
            self.subscription = subscription_services.subscription_create(
                actor=owner, organization=org, plan=plan
            ).subscription
        self.invoice = self.subscription.invoices.get()
        _usage(self.subscription, 2000)
        self._earn(capture)
        self.payout = payout_services.run_payouts().created[0]
        payout_services.payout_details_save(
            actor=owner,
            organization=org,
            values={"account_type": "iban", "holder_name": "Acme", "currency": "EUR", "iban": IBAN},
        )

    def _earn(self, capture):
        globex = OrganizationFactory(name="Globex")
        api = ApiFactory(organization=self.org, name="OCR", status=ApiStatus.PUBLISHED)
        plan = PlanFactory(api=api, name="Metered")
        start = timezone.now().replace(microsecond=0)
        subscription = Subscription.objects.create(
            organization=globex,
            api=api,
            plan=plan,
            status="active",
            period_anchor=start,
            current_period_start=start,
            current_period_end=start + timezone.timedelta(days=30),
            manual_invoicing=True,
        )
        line = rating.Line(
            kind=rating.USAGE,
            description="Pages",
            quantity=Decimal(1),
            unit_price=None,
            amount=Decimal(GROSS),
            period_start=None,
            period_end=None,
        )
        invoice = billing_services.invoice_issue(
            subscription=subscription, key="matrix:globex", lines=[line]
        )
        with capture(execute=True):
            billing_services.invoice_mark_paid(invoice=invoice)

    def markers(self, response=None) -> list[str]:
        """Strings that are money: none may reach a refused member (ids the request's own
        URL names are echoed by the page, which tells nothing)."""
        path = response.request["PATH_INFO"] if response is not None else ""
        return [m for m in self._markers() if m not in path]

    def leaked(self, response) -> list[str]:
        body = response.content.decode()
        return [marker for marker in self.markers(response) if marker in body]

    def _markers(self) -> list[str]:
        return [
            ESTIMATE,
            "1,244.56",
            GROSS,
            SHARE,
            self.invoice.number,
            self.invoice.public_id,
            self.payout.public_id,
            MASKED_IBAN,
            "COBADEFFXXX",
        ]

    def session(self, client, role):
        client.force_login(self.members[role])
        return client

    def token(self, role):
        return bearer_client(self.members[role], self.org)[0]


@pytest.fixture
def world(org, owner, settings, django_capture_on_commit_callbacks):
    settings.STRIPE_SECRET_KEY = ""
    settings.PLATFORM_FEE_PERCENT = Decimal("20")
    settings.PAYOUT_MINIMUM = Decimal("10.00")
    settings.PAYOUT_HOLD_DAYS = 0  # the earnings are payable at once: a payout to show
    return World(org, owner, django_capture_on_commit_callbacks)


def _month() -> str:
    return timezone.now().strftime("%Y-%m")


# Every money page and endpoint: (name, how to reach it, a marker the allowed must see).
MONEY_READS = [
    ("invoice list page", lambda w, c: c.get("/console/invoices/"), lambda w: w.invoice.number),
    (
        "invoice page",
        lambda w, c: c.get(f"/console/invoices/{w.invoice.public_id}/"),
        lambda w: "1,234.56",
    ),
    ("billing settings page", lambda w, c: c.get("/console/billing/"), lambda w: "Payment"),
    ("payouts page", lambda w, c: c.get("/console/payouts/"), lambda w: SHARE),
    (
        "earnings statement CSV",
        lambda w, c: c.get("/console/payouts/statement.csv", {"month": _month()}),
        lambda w: SHARE,
    ),
    ("payout details page", lambda w, c: c.get("/console/payouts/details/"), lambda w: MASKED_IBAN),
    ("invoices API", lambda w, a: a.get("/api/v1/invoices/"), lambda w: w.invoice.public_id),
    (
        "invoice API",
        lambda w, a: a.get(f"/api/v1/invoices/{w.invoice.public_id}/"),
        lambda w: FEE,
    ),
    ("balance API", lambda w, a: a.get("/api/v1/provider/balance/"), lambda w: SHARE),
    ("payouts API", lambda w, a: a.get("/api/v1/provider/payouts/"), lambda w: w.payout.public_id),
    (
        "payout API",
        lambda w, a: a.get(f"/api/v1/provider/payouts/{w.payout.public_id}/"),
        lambda w: SHARE,
    ),
    ("ledger API", lambda w, a: a.get("/api/v1/provider/ledger/"), lambda w: SHARE),
    (
        "payout details API",
        lambda w, a: a.get("/api/v1/provider/payout-details/"),
        lambda w: MASKED_IBAN,
    ),
]


def _client(world, client, name: str, role):
    return world.token(role) if "API" in name else world.session(client, role)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,reach,shown", MONEY_READS, ids=[r[0] for r in MONEY_READS])
def test_money_pages_and_endpoints_follow_the_matrix(world, client, role, name, reach, shown):
    response = reach(world, _client(world, client, name, role))
    body = response.content.decode()
    if role in MONEY_ROLES:
        assert response.status_code == 200, body[:300]
        assert shown(world) in body
        return
    assert response.status_code == 403
    assert not world.leaked(response)
    if "API" in name:
        problem = response.json()
        assert problem["code"] == "forbidden" and problem["status"] == 403
        assert problem["detail"].startswith("Your role (Developer) does not allow this")
        assert "owner, admin or billing" in problem["detail"]
    else:
        assert "Your role (Developer) does not allow this" in body


# Pages every member reads, with the money in them shown only to the roles that see money.
MIXED_READS = [
    (
        "console overview",
        lambda w, c: c.get("/console/"),
        "1,244.56",
    ),  # the money filter groups thousands
    ("usage page", lambda w, c: c.get("/console/usage/"), "1,244.56"),
    (
        "usage CSV",
        lambda w, c: c.get("/console/usage/", {"export": "subscriptions"}),
        ESTIMATE,
    ),
    (
        "subscription page",
        lambda w, c: c.get(f"/console/subscriptions/{w.subscription.public_id}/"),
        "1,244.56",
    ),
    ("provider analytics", lambda w, c: c.get("/console/analytics/"), GROSS),
    (
        "usage API",
        lambda w, a: a.get(f"/api/v1/subscriptions/{w.subscription.public_id}/usage/"),
        ESTIMATE,
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,reach,money", MIXED_READS, ids=[r[0] for r in MIXED_READS])
def test_shared_pages_show_money_only_to_the_roles_that_see_it(
    world, client, role, name, reach, money
):
    response = reach(world, _client(world, client, name, role))
    body = response.content.decode()
    assert response.status_code == 200
    if role in MONEY_ROLES:
        assert money in body
    else:
        assert not world.leaked(response)


def test_the_usage_api_tells_a_developer_there_are_no_charges_to_see(world):
    url = f"/api/v1/subscriptions/{world.subscription.public_id}/usage/"
    data = world.token(Role.DEVELOPER).get(url).json()
    assert data["estimated_charges"] is None and data["calls"] == 2000
    money = world.token(Role.BILLING).get(url).json()["estimated_charges"]
    assert money["total"] == ESTIMATE


def test_the_usage_csv_leaves_the_estimate_column_out_for_a_developer(world, client):
    response = world.session(client, Role.DEVELOPER).get("/console/usage/?export=subscriptions")
    header = next(csv.reader(io.StringIO(response.content.decode())))
    assert header == ["api", "plan", "calls", "units", "errors", "refused", "p50_ms"]


# Paid changes: the refused change nothing.
NEW_DETAILS = {"account_type": "iban", "holder_name": "Acme AG", "currency": "EUR", "iban": IBAN}


def _cap(world):
    world.subscription.refresh_from_db()
    return world.subscription.spend_cap


PAID_CHANGES = [
    (
        "spend cap page",
        lambda w, c: c.post(
            f"/console/subscriptions/{w.subscription.public_id}/cap/", {"spend_cap": "50"}
        ),
        lambda w: _cap(w) == Decimal("50"),
    ),
    (
        "plan change page",
        lambda w, c: c.post(
            f"/console/subscriptions/{w.subscription.public_id}/change/",
            {"plan": w.cheaper.pk, "confirm": "1"},
        ),
        lambda w: Subscription.objects.get(pk=w.subscription.pk).scheduled_plan_id == w.cheaper.pk,
    ),
    (
        "cancel page",
        lambda w, c: c.post(f"/console/subscriptions/{w.subscription.public_id}/cancel/"),
        lambda w: Subscription.objects.get(pk=w.subscription.pk).cancel_at_period_end,
    ),
    (
        "plan change API",
        lambda w, a: a.post(
            f"/api/v1/subscriptions/{w.subscription.public_id}/change-plan/",
            {"plan": w.cheaper.public_id},
            format="json",
        ),
        lambda w: Subscription.objects.get(pk=w.subscription.pk).scheduled_plan_id == w.cheaper.pk,
    ),
    (
        "cancel API",
        lambda w, a: a.post(
            f"/api/v1/subscriptions/{w.subscription.public_id}/cancel/", {}, format="json"
        ),
        lambda w: Subscription.objects.get(pk=w.subscription.pk).cancel_at_period_end,
    ),
    (
        "usage alerts page",
        lambda w, c: c.post(
            f"/console/billing/subscriptions/{w.subscription.public_id}/alerts/",
            {"included_units": "80", "spend_cap": ""},
        ),
        lambda w: w.subscription.alerts.exists(),
    ),
    (
        "payout details page",
        lambda w, c: c.post("/console/payouts/details/", NEW_DETAILS),
        lambda w: PayoutDetails.objects.get(organization=w.org).holder_name == "Acme AG",
    ),
    (
        "payout details API",
        lambda w, a: a.put("/api/v1/provider/payout-details/", NEW_DETAILS, format="json"),
        lambda w: PayoutDetails.objects.get(organization=w.org).holder_name == "Acme AG",
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name,act,done", PAID_CHANGES, ids=[r[0] for r in PAID_CHANGES])
def test_paid_changes_follow_the_matrix(world, client, role, name, act, done):
    response = act(world, _client(world, client, name, role))
    if role in MONEY_ROLES:
        assert response.status_code in (200, 302), response.content[:300]
        assert done(world)
        return
    assert response.status_code == 403 and not done(world)
    body = response.content.decode()
    assert "Your role (Developer) does not allow this" in body
    assert not world.leaked(response)


# Links a role may not use are not shown.
@pytest.mark.parametrize("role", ROLES)
def test_the_sidebar_offers_money_pages_only_to_the_roles_that_see_money(world, client, role):
    html = world.session(client, role).get("/console/keys/").content.decode()
    for link in ('href="/console/invoices/"', 'href="/console/payouts/"'):
        assert (link in html) == (role in MONEY_ROLES)
    assert ('href="/console/organization/audit/"' in html) == (role in {Role.OWNER, Role.ADMIN})


def test_money_notices_reach_only_the_roles_that_see_money(world, client):
    title = f"Invoice {world.invoice.number}"
    assert title in world.session(client, Role.BILLING).get("/console/").content.decode()
    assert title not in world.session(client, Role.DEVELOPER).get("/console/").content.decode()


# The matrix, its docs and its coverage.
def test_the_docs_table_is_the_matrix():
    text = Path("docs/consumers.md").read_text()
    table = text[text.index("| capability |") :].split("\n\n")[0].splitlines()[2:]
    documented = {}
    for row in table:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        name = cells[0].strip("`")
        documented[name] = {role for role, cell in zip(ROLES, cells[1:5], strict=True) if cell}
    assert documented == {c.name: set(c.roles) for c in MATRIX}


def test_the_invite_form_explains_each_role():
    from apps.accounts.forms import InvitationForm

    help_text = InvitationForm().fields["role"].help_text
    assert all(ROLE_HELP[role] in help_text for role in Role)
    assert "no money" in ROLE_HELP[Role.DEVELOPER]
    assert set(CAPABILITIES["see_money"]) == MONEY_ROLES


def _patterns(resolver=None, prefix=""):
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def _staff_or_public(view_class) -> bool:
    from rest_framework import permissions

    classes = getattr(view_class, "permission_classes", ())
    return permissions.IsAdminUser in classes or permissions.AllowAny in classes


def test_every_console_page_and_api_view_declares_who_may_use_it():
    """A page added without a capability would be open to every member: name it."""
    about_the_person = {  # no organization's data: the signed-in person's own
        "console/account/",
        "console/organization/new/",
        "console/organization/switch/",
        "api/v1/me/",
    }
    undeclared = []
    for route, callback in _patterns():
        if not route.startswith(("console/", "api/v1/")) or route in about_the_person:
            continue
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        declared = getattr(view_class or callback, "required_capability", None)
        if declared is None and _staff_or_public(view_class):
            continue  # staff actions (any organization) and the API's public index
        if declared is None:
            undeclared.append(route)
    assert undeclared == []


def test_a_billing_member_makes_a_token_that_reads_invoices_and_not_keys(world):
    from apps.accounts import services as account_services
    from apps.core.errors import Forbidden

    api = world.token(Role.BILLING)  # refused before: tokens needed the develop capability
    assert api.get("/api/v1/invoices/").json()["results"][0]["id"] == world.invoice.public_id
    refused = api.post("/api/v1/keys/", {"name": "ci"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert not world.org.api_keys.exists()
    theirs, _ = account_services.access_token_create(
        actor=world.members[Role.DEVELOPER], organization=world.org, name="deploys"
    )
    with pytest.raises(Forbidden):
        account_services.access_token_revoke(actor=world.members[Role.BILLING], token=theirs)
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
