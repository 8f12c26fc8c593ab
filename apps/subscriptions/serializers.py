from rest_framework import serializers

from .models import Plan, PlanVisibility, Subscription, SubscriptionStatus
from .pricing import describe_plan


class TierField(serializers.Serializer):
    up_to = serializers.IntegerField(allow_null=True, min_value=1)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=6)


class PlanOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    api = serializers.CharField(source="api.slug", read_only=True)
    archived = serializers.BooleanField(source="is_archived", read_only=True)
    price = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [
            "id",
            "api",
            "name",
            "description",
            "monthly_fee",
            "included_units",
            "unit_price",
            "tiers",
            "unit",
            "hard_limit",
            "rate_limit_per_second",
            "rate_limit_per_minute",
            "bill_server_errors",
            "max_units_per_call",
            "trial_days",
            "visibility",
            "recommended",
            "archived",
            "price",
        ]

    def get_price(self, plan) -> dict:
        description = describe_plan(plan)
        return {"headline": description.headline, "lines": list(description.lines)}


class PlanInput(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    monthly_fee = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    included_units = serializers.IntegerField(required=False)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=6, required=False)
    tiers = TierField(many=True, required=False)
    unit = serializers.CharField(max_length=30, required=False)
    hard_limit = serializers.BooleanField(required=False)
    rate_limit_per_second = serializers.IntegerField(required=False, allow_null=True)
    rate_limit_per_minute = serializers.IntegerField(required=False, allow_null=True)
    bill_server_errors = serializers.BooleanField(required=False)
    max_units_per_call = serializers.DecimalField(
        max_digits=19, decimal_places=6, required=False, allow_null=True
    )
    trial_days = serializers.IntegerField(required=False)
    visibility = serializers.ChoiceField(choices=PlanVisibility.choices, required=False)
    recommended = serializers.BooleanField(required=False)

    def validate_tiers(self, tiers):
        return [{"up_to": t["up_to"], "unit_price": str(t["unit_price"])} for t in tiers]


class PlanUpdateInput(PlanInput):
    name = serializers.CharField(max_length=60, required=False)
    archived = serializers.BooleanField(required=False)


class SubscriptionOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    api = serializers.CharField(source="api.slug", read_only=True)
    plan = PlanOutput(read_only=True)
    scheduled_plan = serializers.CharField(
        source="scheduled_plan.public_id", default=None, read_only=True
    )
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices, read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "api",
            "plan",
            "status",
            "current_period_start",
            "current_period_end",
            "trial_ends_at",
            "cancel_at_period_end",
            "canceled_at",
            "scheduled_plan",
            "spend_cap",
            "manual_invoicing",
            "created_at",
        ]


class SubscriptionCreatedOutput(SubscriptionOutput):
    checkout_url = serializers.URLField(
        allow_null=True, read_only=True, help_text="Where to save a card, when one is needed."
    )

    class Meta(SubscriptionOutput.Meta):
        fields = [*SubscriptionOutput.Meta.fields, "checkout_url"]


class SubscribeInput(serializers.Serializer):
    plan = serializers.CharField(help_text="The plan's id (plan_…).")
    invite = serializers.CharField(
        required=False, allow_blank=True, help_text="The invite token of a private plan."
    )


class ChangePlanInput(serializers.Serializer):
    plan = serializers.CharField()


class CancelInput(serializers.Serializer):
    at_once = serializers.BooleanField(
        required=False, default=False, help_text="End now instead of at the period end."
    )
