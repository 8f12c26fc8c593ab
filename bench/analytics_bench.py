"""Dashboard benchmark: a year of hourly aggregates for 1,000 subscriptions on PostgreSQL,
then the provider's and a consumer's dashboards timed at the server (Django test client,
in process: view + queries + template, no network).

    python bench/analytics_bench.py [--subscriptions 1000] [--days 365] [--repeat 7]

Creates (and drops at the end) the database `tollgate_analytics_bench`."""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = "tollgate_analytics_bench"
BASE_URL = "postgres://postgres@127.0.0.1:5432"


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql],
        check=True,
        capture_output=True,
    )


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = f"{BASE_URL}/{DB}"
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed(subscriptions: int, days: int):
    from decimal import Decimal

    from django.db import connection

    from apps.accounts.models import Membership, Organization, User
    from apps.catalog.models import Api, ApiStatus, Endpoint
    from apps.subscriptions.models import Plan, Subscription

    owner = User.objects.create_user("provider@bench.test", "x")
    provider = Organization.objects.create(name="Bench Provider", slug="bench-provider")
    Membership.objects.create(organization=provider, user=owner, role="owner")
    apis = [
        Api.objects.create(
            organization=provider,
            name=f"API {n}",
            slug=f"api-{n}",
            upstream_url="https://example.com",
            status=ApiStatus.PUBLISHED,
        )
        for n in range(10)
    ]
    endpoints = [
        Endpoint.objects.create(api=api, method="GET", path=f"/e{k}")
        for api in apis
        for k in range(3)
    ]
    plans = [
        Plan.objects.create(
            api=api, name="Pay", unit_price=Decimal("0.001"), included_units=0, hard_limit=False
        )
        for api in apis
    ]
    start = (datetime.now(tz=UTC) - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    consumers = Organization.objects.bulk_create(
        [Organization(name=f"Consumer {n}", slug=f"consumer-{n}") for n in range(subscriptions)]
    )
    users = User.objects.bulk_create([User(email=f"c{n}@bench.test") for n in range(subscriptions)])
    Membership.objects.bulk_create(
        [
            Membership(organization=o, user=u, role="owner")
            for o, u in zip(consumers, users, strict=True)
        ]
    )
    subs = Subscription.objects.bulk_create(
        [
            Subscription(
                organization=org,
                api=plans[n % 10].api,
                plan=plans[n % 10],
                status="active",
                period_anchor=start,
                current_period_start=start,
                current_period_end=start + timedelta(days=31),
                public_id=f"sub_bench{n}",
            )
            for n, org in enumerate(consumers)
        ]
    )
    hours = days * 24
    print(
        f"seeding {subscriptions * hours:,} hourly rows and {subscriptions * days:,} daily rows …",
        flush=True,
    )
    histogram = json.dumps([1, 2, 5, 10, 20, 8, 3, 1, 0, 0, 0, 0, 0])
    with connection.cursor() as cursor:
        _copy(
            cursor,
            "metering_usageaggregate",
            [
                "subscription_id",
                "api_key_id",
                "endpoint_id",
                "hour",
                "period_start",
                "calls",
                "billable_calls",
                "billable_units",
                "status_2xx",
                "status_3xx",
                "status_4xx",
                "status_5xx",
                "gateway_errors",
                "bytes_in",
                "bytes_out",
                "latency_ms_sum",
                "latency_histogram",
            ],
            _hourly_rows(subs, endpoints, start, hours, histogram),
        )
        _copy(
            cursor,
            "metering_usagedaily",
            [
                "subscription_id",
                "endpoint_id",
                "day",
                "calls",
                "billable_calls",
                "billable_units",
                "status_2xx",
                "status_3xx",
                "status_4xx",
                "status_5xx",
                "gateway_errors",
                "bytes_in",
                "bytes_out",
                "latency_ms_sum",
                "latency_histogram",
            ],
            _daily_rows(subs, endpoints, start, days, histogram),
        )
        cursor.execute("ANALYZE")
    return owner, users[0], subs[0]


def _hourly_rows(subs, endpoints, start, hours, histogram):
    for sub in subs:
        endpoint = endpoints[(sub.pk % 10) * 3].pk
        for hour in range(hours):
            at = (start + timedelta(hours=hour)).isoformat()
            yield (
                sub.pk,
                1,
                endpoint,
                at,
                start.isoformat(),
                50,
                50,
                "50.000",
                48,
                0,
                1,
                1,
                0,
                0,
                5000,
                2500,
                histogram,
            )


def _daily_rows(subs, endpoints, start, days, histogram):
    for sub in subs:
        endpoint = endpoints[(sub.pk % 10) * 3].pk
        for day in range(days):
            at = (start + timedelta(days=day)).date().isoformat()
            yield (
                sub.pk,
                endpoint,
                at,
                1200,
                1200,
                "1200.000",
                1152,
                0,
                24,
                24,
                0,
                0,
                120000,
                60000,
                histogram,
            )


def _copy(cursor, table, columns, rows) -> None:
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    batch = io.StringIO()
    count = 0
    with cursor.copy(sql) as copy:
        for row in rows:
            batch.write("\t".join(str(v) for v in row) + "\n")
            count += 1
            if count % 200_000 == 0:
                copy.write(batch.getvalue())
                batch = io.StringIO()
        copy.write(batch.getvalue())


def time_page(client, path: str, params: dict, repeat: int) -> dict:
    client.get(path, params)  # warm caches and the connection
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time a kept database again")
    options = parser.parse_args()
    if not options.reuse:
        psql(f"DROP DATABASE IF EXISTS {DB}")
        psql(f"CREATE DATABASE {DB}")
    try:
        setup_django()
        from django.core.management import call_command
        from django.test import Client

        from apps.accounts.models import User
        from apps.subscriptions.models import Subscription

        if options.reuse:
            owner = User.objects.get(email="provider@bench.test")
            consumer = User.objects.get(email="c0@bench.test")
            subscription = Subscription.objects.get(public_id="sub_bench0")
        else:
            call_command("migrate", verbosity=0)
            started = time.monotonic()
            owner, consumer, subscription = seed(options.subscriptions, options.days)
            print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        provider_client, consumer_client = Client(), Client()
        provider_client.force_login(owner)
        consumer_client.force_login(consumer)
        custom = {
            "range": "custom",
            "from": (datetime.now(tz=UTC).date() - timedelta(days=364)).isoformat(),
            "to": datetime.now(tz=UTC).date().isoformat(),
        }
        results = {
            "provider 24h": time_page(
                provider_client, "/console/analytics/", {"range": "24h"}, options.repeat
            ),
            "provider 7d": time_page(
                provider_client, "/console/analytics/", {"range": "7d"}, options.repeat
            ),
            "provider 30d": time_page(
                provider_client, "/console/analytics/", {"range": "30d"}, options.repeat
            ),
            "provider 1 year (custom)": time_page(
                provider_client, "/console/analytics/", custom, options.repeat
            ),
            "consumer usage 30d": time_page(
                consumer_client, "/console/usage/", {"range": "30d"}, options.repeat
            ),
            "consumer subscription page": time_page(
                consumer_client,
                f"/console/subscriptions/{subscription.public_id}/",
                {},
                options.repeat,
            ),
            "consumer usage API": time_page(
                consumer_client,
                f"/api/v1/subscriptions/{subscription.public_id}/usage/",
                {},
                options.repeat,
            ),
        }
        print(json.dumps(results, indent=2))
        out = ROOT / "bench" / "results" / "analytics.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(
            json.dumps(
                {"subscriptions": options.subscriptions, "days": options.days, "results": results},
                indent=2,
            )
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep:
            psql(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
