# Stripe's offline fixtures (tests/billing) for the money-flow browser test.
from tests.billing.stripe_fixtures import stripe_settings, webhook  # noqa: F401
