from rest_framework import serializers


class DayUsage(serializers.Serializer):
    day = serializers.DateField()
    calls = serializers.IntegerField()
    units = serializers.DecimalField(max_digits=20, decimal_places=3)
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    gateway_errors = serializers.IntegerField()


class EndpointUsage(serializers.Serializer):
    method = serializers.CharField(source="endpoint__method", allow_null=True)
    path = serializers.CharField(source="endpoint__path", allow_null=True)
    calls = serializers.IntegerField()
    units = serializers.DecimalField(max_digits=20, decimal_places=3)
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()


class KeyUsage(serializers.Serializer):
    key_prefix = serializers.CharField(source="prefix")
    calls = serializers.IntegerField()
    units = serializers.DecimalField(max_digits=20, decimal_places=3)


class EstimateOutput(serializers.Serializer):
    fee = serializers.DecimalField(max_digits=14, decimal_places=2)
    usage = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()


class UsageOutput(serializers.Serializer):
    subscription = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    unit = serializers.CharField()
    units_used = serializers.DecimalField(max_digits=20, decimal_places=3)
    included_units = serializers.IntegerField()
    remaining_units = serializers.DecimalField(max_digits=20, decimal_places=3)
    calls = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.IntegerField())
    estimated_charges = EstimateOutput(
        allow_null=True,
        help_text="Null for members whose role does not see money (developers).",
    )
    by_day = DayUsage(many=True)
    by_endpoint = EndpointUsage(many=True)
    by_key = KeyUsage(many=True)
