"""Usage recorded before timelines belongs to each subscription's first term (the only
plan and prices it could have been billed at)."""

from django.db import migrations


def forwards(apps, schema_editor):
    Term = apps.get_model("subscriptions", "SubscriptionTerm")
    UsageAggregate = apps.get_model("metering", "UsageAggregate")
    first_terms = {}
    for term in Term.objects.order_by("starts_at", "id"):
        first_terms.setdefault(term.subscription_id, term.pk)
    for subscription_id, term_id in first_terms.items():
        UsageAggregate.objects.filter(subscription_id=subscription_id, term_id=None).update(
            term_id=term_id
        )


class Migration(migrations.Migration):
    dependencies = [
        ("metering", "0004_usage_by_term"),
        ("subscriptions", "0004_versions_and_timelines_for_existing_data"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
