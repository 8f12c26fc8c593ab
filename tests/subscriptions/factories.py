from decimal import Decimal

import factory

from apps.subscriptions.models import Plan
from tests.catalog.factories import ApiFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    api = factory.SubFactory(ApiFactory)
    name = factory.Sequence(lambda n: f"Plan {n}")
    monthly_fee = Decimal("0")
    included_units = 1000
    unit_price = Decimal("0")
    unit = "call"
    hard_limit = True
