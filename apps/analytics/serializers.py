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
    refused = serializers.IntegerField(help_text="Calls the gateway refused (never billed).")


class RefusalCount(serializers.Serializer):
    code = serializers.CharField(help_text="The problem+json `code` of the refusal.")
    status = serializers.IntegerField()
    calls = serializers.IntegerField()


class RefusedOutput(serializers.Serializer):
    total = serializers.IntegerField()
    by_code = RefusalCount(many=True)


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
    refused = RefusedOutput(
        help_text="Calls the gateway refused this period although the key was valid for it "
        "(402, 403, 429: not in `calls`, never billed, never against the quota), by error code."
    )
    estimated_charges = EstimateOutput(
        allow_null=True,
        help_text="Null for members whose role does not see money (developers).",
    )
    by_day = DayUsage(many=True)
    by_endpoint = EndpointUsage(many=True)
    by_key = KeyUsage(many=True)


MONEY = {"max_digits": 14, "decimal_places": 2, "allow_null": True}


class RangeOutput(serializers.Serializer):
    key = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class ProviderErrorsOutput(serializers.Serializer):
    client_4xx = serializers.IntegerField()
    server_5xx = serializers.IntegerField()
    gateway = serializers.IntegerField()
    error_rate_percent = serializers.FloatField()


class LatencyOutput(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class RevenueOutput(serializers.Serializer):
    currency = serializers.CharField()
    billed = serializers.DecimalField(**MONEY, help_text="Invoice lines issued in the range.")
    collected = serializers.DecimalField(**MONEY, help_text="Of those, paid.")
    earned = serializers.DecimalField(**MONEY, help_text="Your share after the platform fee.")
    paid_out = serializers.DecimalField(**MONEY, help_text="Payouts paid in the range.")


class SeriesPoint(serializers.Serializer):
    at = serializers.CharField(help_text="An hour (ranges ≤ 2 days) or a UTC day.")
    calls = serializers.IntegerField()
    errors = serializers.IntegerField()
    units = serializers.DecimalField(max_digits=26, decimal_places=6)


class ProviderEndpointOutput(serializers.Serializer):
    method = serializers.CharField(allow_null=True)
    path = serializers.CharField(allow_null=True)
    calls = serializers.IntegerField()
    error_rate_percent = serializers.FloatField()
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)


class ProviderAnalyticsOutput(serializers.Serializer):
    range = RangeOutput()
    api = serializers.CharField(allow_null=True)
    calls = serializers.IntegerField()
    billable_units = serializers.DecimalField(max_digits=26, decimal_places=6)
    errors = ProviderErrorsOutput()
    latency_ms = LatencyOutput()
    refused = RefusedOutput(
        help_text="Calls with a valid key the gateway refused (quota, rate limit, not "
        "subscribed…): never forwarded to your API, never billed."
    )
    revenue = RevenueOutput(allow_null=True, help_text="Members who may see billing only.")
    series = SeriesPoint(many=True)
    endpoints = ProviderEndpointOutput(many=True)
