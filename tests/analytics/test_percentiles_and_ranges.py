import random
from datetime import UTC, date, datetime

import pytest
from django.http import QueryDict

from apps.analytics import percentiles
from apps.analytics.ranges import parse_range
from apps.metering.flush import _bucket_index
from apps.metering.models import LATENCY_BUCKETS_MS


def _histogram(latencies):
    histogram = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for latency in latencies:
        histogram[_bucket_index(latency)] += 1
    return histogram


def test_a_uniform_distribution_inside_one_bucket_interpolates_linearly():
    # 100 calls, all between 100 and 250 ms: the median is interpolated to 175 ms
    histogram = _histogram([101] * 100)
    assert percentiles.percentile(histogram, 0.5) == pytest.approx(175)
    assert percentiles.percentile(histogram, 0.99) == pytest.approx(248.5)


def test_known_distribution_percentiles_land_in_the_right_bucket():
    rng = random.Random(7)
    latencies = [rng.uniform(0, 1000) for _ in range(20_000)]
    summary = percentiles.summary(_histogram(latencies))
    # the true values are 500, 950, 990; bucket interpolation keeps them in their bucket
    assert 250 <= summary["p50"] <= 1000
    assert 500 < summary["p95"] <= 1000 and 500 < summary["p99"] <= 1000
    assert summary["p50"] < summary["p95"] < summary["p99"]


def test_exact_percentiles_at_bucket_edges():
    histogram = _histogram([3] * 50 + [8] * 50)  # half ≤5 ms, half in (5, 10]
    assert percentiles.percentile(histogram, 0.5) == pytest.approx(5)
    assert percentiles.percentile(histogram, 1.0) == pytest.approx(10)


def test_empty_and_open_bucket():
    assert percentiles.percentile([0] * 13, 0.5) is None
    assert percentiles.percentile(_histogram([60_000]), 0.5) == LATENCY_BUCKETS_MS[-1]


def test_merging_histograms_adds_counts():
    assert percentiles.merge([[1, 2], [3, 4, 5]])[:3] == [4, 6, 5]


NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


def test_presets_cover_whole_utc_days_except_24h():
    rng = parse_range(QueryDict("range=7d"), now=NOW)
    assert rng.start == datetime(2026, 11, 20, tzinfo=UTC)
    assert rng.end == datetime(2026, 11, 27, tzinfo=UTC)
    assert not rng.hourly and len(rng.buckets()) == 7
    day = parse_range(QueryDict("range=24h"), now=NOW)
    assert day.hourly and day.end == NOW and len(day.buckets()) == 25


def test_custom_ranges_and_bad_input_fall_back_to_7_days():
    rng = parse_range(QueryDict("range=custom&from=2026-01-01&to=2026-01-31"), now=NOW)
    assert rng.buckets()[0] == date(2026, 1, 1) and len(rng.buckets()) == 31
    assert parse_range(QueryDict("range=custom&from=2026-02-01&to=2026-01-01"), now=NOW).key == "7d"
    assert parse_range(QueryDict("range=custom&from=nope"), now=NOW).key == "7d"
    assert parse_range(QueryDict("range=1y"), now=NOW).key == "7d"


def test_a_line_chart_keeps_its_edge_labels_inside_the_frame():
    from apps.analytics.charts import Series, line

    labels = [f"Nov {day}" for day in range(20, 27)]
    svg = str(line(labels, [Series("subscribers", [4] * 7)], title="Subscribers"))
    assert 'text-anchor="start" class="chart-label">Nov 20<' in svg
    assert 'text-anchor="end" class="chart-label">Nov 26<' in svg
    assert svg.count('text-anchor="middle" class="chart-label"') == 5
