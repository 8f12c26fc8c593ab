"""Plans of docs/pricing.md's worked examples, shared by the tests that run them."""

from decimal import Decimal as D

import pytest

from tests.catalog.factories import ApiFactory
from tests.subscriptions.factories import PlanFactory


@pytest.fixture
def api(other_org):
    return ApiFactory(organization=other_org)


@pytest.fixture
def basic(api):
    return PlanFactory(
        api=api,
        name="Basic",
        monthly_fee=D("10"),
        included_units=1_000,
        unit_price=D("0.01"),
        hard_limit=False,
    )


@pytest.fixture
def pro(api):
    return PlanFactory(
        api=api,
        name="Pro",
        monthly_fee=D("40"),
        included_units=10_000,
        unit_price=D("0.002"),
        hard_limit=False,
    )


@pytest.fixture
def free(api):
    return PlanFactory(api=api, name="Free", included_units=100, hard_limit=True)
