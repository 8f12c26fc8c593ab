import pytest

from apps.accounts.roles import Role
from apps.catalog.models import ApiStatus
from apps.keys import services
from tests.catalog.factories import ApiFactory
from tests.factories import MembershipFactory


@pytest.fixture
def billing_member(org):
    return MembershipFactory(
        organization=org, role=Role.BILLING, user__email="books@acme.test"
    ).user


def subscribed(organization, **fields):
    """A published API the organization subscribes to: what a key may be restricted to."""
    from tests.gateway.conftest import make_plan, subscribe

    api = ApiFactory(**fields)
    subscribe(organization, make_plan(api))
    return api


@pytest.fixture
def weather(org):
    return subscribed(org, name="Weather", slug="weather")


@pytest.fixture
def ocr(org):
    return subscribed(org, name="OCR", slug="ocr")


@pytest.fixture
def draft_of_others(db):
    return ApiFactory(name="Secret project", slug="secret-project", status=ApiStatus.DRAFT)


@pytest.fixture
def make_key(owner, org):
    def make(name="backend", *, actor=None, organization=None, **kwargs):
        return services.api_key_create(
            actor=actor or owner, organization=organization or org, name=name, **kwargs
        )

    return make
