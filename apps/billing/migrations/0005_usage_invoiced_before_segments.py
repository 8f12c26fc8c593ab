"""Usage of periods closed before segments were rated was invoiced already: record it as
rated, so it is never billed again as late usage."""

from django.db import migrations
from django.db.models import Sum


def forwards(apps, schema_editor):
    Subscription = apps.get_model("subscriptions", "Subscription")
    UsageAggregate = apps.get_model("metering", "UsageAggregate")
    RatedUsage = apps.get_model("billing", "RatedUsage")
    for subscription in Subscription.objects.all():
        rows = UsageAggregate.objects.filter(subscription_id=subscription.pk)
        if subscription.status != "canceled":
            rows = rows.filter(period_start__lt=subscription.current_period_start)
        for row in rows.values("term_id", "period_start").annotate(units=Sum("billable_units")):
            RatedUsage.objects.get_or_create(
                subscription_id=subscription.pk,
                term_id=row["term_id"],
                period_start=row["period_start"],
                defaults={"units": row["units"]},
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_rated_usage_and_credit"),
        ("metering", "0005_existing_usage_under_its_term"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
