"""Latency percentiles from the aggregates' histograms.

Buckets are counts of calls with latency ≤ each upper bound (apps.metering.models
LATENCY_BUCKETS_MS) plus one open bucket. A percentile is found by walking the cumulative
counts and interpolating linearly inside the bucket it falls in (as Prometheus'
histogram_quantile does); the open bucket reports its lower bound."""

from apps.metering.models import LATENCY_BUCKETS_MS


def merge(histograms) -> list[int]:
    merged = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for histogram in histograms:
        for index, count in enumerate(histogram or []):
            merged[index] += int(count)
    return merged


def percentile(histogram: list[int], fraction: float) -> float | None:
    total = sum(histogram)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = 0 if index == 0 else LATENCY_BUCKETS_MS[index - 1]
            if index >= len(LATENCY_BUCKETS_MS):
                return float(lower)
            upper = LATENCY_BUCKETS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


def summary(histogram: list[int]) -> dict[str, float | None]:
    return {
        name: percentile(histogram, fraction)
        for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
