"""Usage truth in the database: hourly aggregates written by the flush, exactly once.

The embedded counter store (no Redis) also keeps its hot-path state here: rate windows,
period quota counters and the queue of not-yet-flushed call events."""

from django.db import models

from apps.catalog.models import Api, Endpoint
from apps.subscriptions.models import Subscription

# Upper bounds (ms) of the latency histogram buckets; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)

# The integer counters of every usage grain (billable units and the histogram aside).
COUNT_FIELDS = (
    "calls",
    "billable_calls",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "gateway_errors",
    "bytes_in",
    "bytes_out",
    "latency_ms_sum",
    "invalid_unit_reports",
    "unsettled_calls",
)


class UsageCounts(models.Model):
    """What each grain counts for its bucket; the flush adds to all grains alike."""

    calls = models.BigIntegerField(default=0)
    billable_calls = models.BigIntegerField(default=0)
    # to the millionth: X-Tollgate-Units carries up to six decimal places
    billable_units = models.DecimalField(max_digits=26, decimal_places=6, default=0)
    status_2xx = models.BigIntegerField(default=0)
    status_3xx = models.BigIntegerField(default=0)
    status_4xx = models.BigIntegerField(default=0)
    status_5xx = models.BigIntegerField(default=0)
    gateway_errors = models.BigIntegerField(default=0)
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    latency_ms_sum = models.BigIntegerField(default=0)
    # calls whose X-Tollgate-Units broke the units rule (billed at the plan's fallback):
    # the provider's console shows them, so a broken upstream is noticed
    invalid_unit_reports = models.BigIntegerField(default=0)
    latency_histogram = models.JSONField(default=list)
    # calls the upstream was asked to serve but whose gateway died before recording the
    # outcome: billed at the plan's minimum units, in no status class (docs/ARCHITECTURE.md)
    unsettled_calls = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class UsageAggregate(UsageCounts):
    """Calls of one subscription, key and endpoint in one hour, counted against the billing
    period starting at `period_start` (so billing sums exactly what the quota enforced),
    under the term in force when they were made (so billing rates them at those prices)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="usage")
    api_key_id = models.BigIntegerField(null=True, db_index=True)
    endpoint = models.ForeignKey(
        Endpoint, null=True, on_delete=models.SET_NULL, related_name="usage"
    )
    hour = models.DateTimeField()
    period_start = models.DateTimeField()
    # the subscription's term (apps.subscriptions.SubscriptionTerm: plan and price version)
    # in force when the calls were made; None for usage from before timelines
    term_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "subscription",
                    "api_key_id",
                    "endpoint",
                    "hour",
                    "period_start",
                    "term_id",
                ],
                name="one_aggregate_per_bucket",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "period_start"]),
            models.Index(fields=["subscription", "hour"]),
            models.Index(fields=["hour"]),
        ]

    def __str__(self):
        return f"{self.subscription_id} {self.hour:%Y-%m-%d %H}h: {self.calls} calls"


class FlushState(models.Model):
    """The flush ledger of one usage source (a Redis stream shard, the database queue, the
    started records): the last entry already written to aggregates, updated in the same
    transaction as the aggregates it covers; and the watermark `flushed_through`: every
    event the source held at that moment is in the aggregates (a period closes only once
    every source's watermark is past its end)."""

    source = models.CharField(max_length=20, unique=True)
    last_id = models.CharField(max_length=40, default="0-0")
    flushed_events = models.BigIntegerField(default=0)
    flushed_batches = models.BigIntegerField(default=0)
    last_flush_at = models.DateTimeField(null=True)
    last_batch_size = models.IntegerField(default=0)
    last_lag_seconds = models.FloatField(default=0)
    flushed_through = models.DateTimeField(null=True)

    def __str__(self):
        return f"{self.source} flushed to {self.last_id}"


class MeteredCall(models.Model):
    """The request ids the flush has already counted, written in the same transaction as the
    aggregates: a call that reaches the flush twice (a timed-out Redis write that happened
    after all and its database fallback, an orphaned start and its late completion) is
    counted once. Pruned once every source is drained well past `settled_at`."""

    request_id = models.CharField(max_length=32, primary_key=True)
    settled_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.request_id


class StartedCall(models.Model):
    """The embedded store's started records (Redis keeps them in a hash per subscription):
    written with the admission, deleted by the completion. One left behind is a call whose
    gateway died mid-call; the flush bills it after `METERING_ORPHAN_AFTER_S`."""

    request_id = models.CharField(max_length=32, unique=True)
    subscription_id = models.BigIntegerField(db_index=True)
    data = models.CharField(max_length=300)
    updated_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.request_id


class UsageEvent(models.Model):
    """The embedded store's queue of calls not yet flushed (Redis uses a stream)."""

    data = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.data


class RateWindow(models.Model):
    """The embedded store's fixed rate windows: one row per subscription and window."""

    key = models.CharField(max_length=80, unique=True)
    count = models.IntegerField(default=0)
    expires_at = models.FloatField(db_index=True)

    def __str__(self):
        return f"{self.key}={self.count}"


class QuotaCounter(models.Model):
    """Units used in a billing period (milli-units), as enforced by admission. A cache of
    the aggregates' truth: rebuilt from them when missing."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    used_milli = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="one_quota_counter_per_period"
            )
        ]

    def __str__(self):
        return f"{self.subscription_id}@{self.period_start}: {self.used_milli}"


class RequestLogEntry(models.Model):
    """The embedded store's recent request log (Redis keeps a capped list)."""

    subscription_id = models.BigIntegerField(db_index=True)
    data = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.data


class UsageDaily(UsageCounts):
    """The same counts per subscription, endpoint and UTC day: dashboards over weeks and
    months read these (30 rows a month instead of 720). Written by the same flush, in the
    same transaction, so the two grains always agree."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="daily_usage"
    )
    endpoint = models.ForeignKey(
        Endpoint, null=True, on_delete=models.SET_NULL, related_name="daily_usage"
    )
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "endpoint", "day"],
                name="one_daily_per_bucket",
                nulls_distinct=False,
            ),
        ]
        indexes = [models.Index(fields=["subscription", "day"]), models.Index(fields=["day"])]

    def __str__(self):
        return f"{self.subscription_id} {self.day}: {self.calls} calls"


class RefusedCalls(models.Model):
    """Calls the gateway refused although it knew the key (401 for a revoked or expired
    key, 402, 403, 429), per key, subscription (none for `not_subscribed` and the like),
    API, billing period, error code and hour. Written by the flush from the gateway's
    refusal events; never billed, never counted against a quota: it tells a consumer why
    calls fail."""

    api_key_id = models.BigIntegerField()
    subscription = models.ForeignKey(
        Subscription, null=True, on_delete=models.CASCADE, related_name="refused_calls"
    )
    api = models.ForeignKey(Api, null=True, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField(null=True)
    code = models.CharField(max_length=40)
    status = models.PositiveSmallIntegerField()
    hour = models.DateTimeField()
    calls = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key_id", "subscription", "api", "period_start", "code", "hour"],
                name="one_refusal_count_per_bucket",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "period_start"]),
            models.Index(fields=["api_key_id", "hour"]),
            models.Index(fields=["hour"]),
        ]

    def __str__(self):
        return f"key {self.api_key_id} {self.code} {self.hour:%Y-%m-%d %H}h: {self.calls}"
