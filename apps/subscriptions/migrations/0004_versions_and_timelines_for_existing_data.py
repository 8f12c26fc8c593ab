"""Existing plans get price version 1 (their prices now), existing subscriptions are pinned
to it and get a timeline: one term from their start, and a scheduled downgrade as a term
starting at the period end."""

from django.db import migrations

PRICE_FIELDS = ("monthly_fee", "included_units", "unit_price", "tiers", "hard_limit")


def forwards(apps, schema_editor):
    Plan = apps.get_model("subscriptions", "Plan")
    PriceVersion = apps.get_model("subscriptions", "PriceVersion")
    Subscription = apps.get_model("subscriptions", "Subscription")
    Term = apps.get_model("subscriptions", "SubscriptionTerm")
    versions = {}
    for plan in Plan.objects.all():
        versions[plan.pk] = PriceVersion.objects.create(
            plan=plan, number=1, **{name: getattr(plan, name) for name in PRICE_FIELDS}
        )
    for subscription in Subscription.objects.all():
        subscription.price_version = versions[subscription.plan_id]
        subscription.save(update_fields=["price_version"])
        started = min(subscription.created_at, subscription.current_period_start)
        ends_at = subscription.canceled_at if subscription.status == "canceled" else None
        scheduled = subscription.scheduled_plan_id and ends_at is None
        Term.objects.create(
            subscription=subscription,
            plan_id=subscription.plan_id,
            price_version=versions[subscription.plan_id],
            starts_at=started,
            ends_at=subscription.current_period_end if scheduled else ends_at,
            reason="subscribed",
        )
        if scheduled:
            Term.objects.create(
                subscription=subscription,
                plan_id=subscription.scheduled_plan_id,
                price_version=versions[subscription.scheduled_plan_id],
                starts_at=subscription.current_period_end,
                reason="downgrade",
            )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0003_price_versions_and_terms")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
