import pytest

from apps.accounts.roles import Role
from apps.webhooks import services
from tests.catalog.factories import ApiFactory
from tests.factories import MembershipFactory, OrganizationFactory
from tests.subscriptions.factories import PlanFactory
from tests.webhooks.receiver import Receiver


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOK_TIMEOUT_S = 0.5  # the receiver "hangs" for longer than this
    settings.UPSTREAM_ALLOW_PRIVATE = True  # the receiver is on loopback; SSRF tests turn it off


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the block enqueues after commit (deliveries), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def endpoint(owner, org, receiver):
    return services.endpoint_create(actor=owner, organization=org, url=receiver.url)


@pytest.fixture
def billing_member(org):
    return MembershipFactory(
        organization=org, role=Role.BILLING, user__email="books@acme.test"
    ).user


@pytest.fixture
def weather(org):
    """An API of the provider (Acme) with a free plan."""
    return ApiFactory(organization=org, name="Weather", slug="weather")


@pytest.fixture
def free_plan(weather):
    return PlanFactory(api=weather, name="Free", included_units=100)


@pytest.fixture
def pro_plan(weather):
    from decimal import Decimal

    return PlanFactory(api=weather, name="Pro", included_units=10000, monthly_fee=Decimal("0"))


@pytest.fixture
def consumer_org(db):
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def consumer(consumer_org):
    return MembershipFactory(
        organization=consumer_org, role=Role.OWNER, user__email="hank@globex.test"
    ).user
