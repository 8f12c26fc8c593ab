"""The benchmark's Django side, as one long-lived process (Django starts once, ~2 s): it
reads one JSON command per line on stdin and answers one JSON line on stdout.

    {"cmd": "seed", "upstream_url": "http://127.0.0.1:9001"}
        → {"slug": ..., "key": ..., "subscription_id": ..., ...}
    {"cmd": "flush"}   runs apps.metering.tasks.flush_usage until it flushes nothing
        → {"flushed": n, "runs": k, "seconds": s}
    {"cmd": "totals"}  what the aggregates hold
        → {"calls": ..., "billable_units": "...", "status_2xx": ..., ...}
    {"cmd": "metered", "path": "/tmp/ids"}  writes every request id the flush counted
        (one a line) → {"ids": n}
    {"cmd": "ledger"}  events each source's flush read (duplicates included), from the
        flush's ledger → {"redis": n, "database": n, "started": n}
    {"cmd": "reset"}   forgets all usage (aggregates, queues, started calls, counted ids,
        the flush's ledger) between the fault benchmark's scenarios → {"reset": true}

Run by bench/gateway_bench.py with the production settings and the bench database; it
is not a management command on purpose (the bench adds nothing to the apps)."""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

SLUG = "bench"


def seed(upstream_url: str) -> dict:
    from apps.accounts.models import Membership, Organization, User
    from apps.accounts.roles import Role
    from apps.catalog.models import Api, ApiStatus, Endpoint
    from apps.keys.services import api_key_create
    from apps.subscriptions.models import Plan, Subscription, SubscriptionStatus
    from apps.subscriptions.periods import period_bounds

    now = timezone.now().replace(microsecond=0)
    provider_user = User.objects.create_user("provider@bench.invalid", None, name="Provider")
    provider = Organization.objects.create(name="Bench Provider", slug="bench-provider")
    Membership.objects.create(organization=provider, user=provider_user, role=Role.OWNER)
    api = Api.objects.create(
        organization=provider,
        name="Bench",
        slug=SLUG,
        summary="The gateway benchmark's upstream.",
        upstream_url=upstream_url,
        status=ApiStatus.PUBLISHED,
        published_at=now,
    )
    # endpoints, so every call also runs the route match and meters per endpoint
    Endpoint.objects.create(api=api, method="GET", path="/fast", summary="fast")
    Endpoint.objects.create(api=api, method="GET", path="/slow", summary="slow (10 ms)")
    # no rate limits, a soft quota no run can reach: admission runs the whole Lua script
    # (quota GET, both window INCRs, the reservation INCRBY) and never refuses
    plan = Plan.objects.create(
        api=api,
        name="Bench unlimited",
        monthly_fee=Decimal("0"),
        included_units=10**12,
        unit_price=Decimal("0"),
        unit="call",
        hard_limit=False,
        rate_limit_per_second=None,
        rate_limit_per_minute=None,
    )
    consumer_user = User.objects.create_user("consumer@bench.invalid", None, name="Consumer")
    consumer = Organization.objects.create(name="Bench Consumer", slug="bench-consumer")
    Membership.objects.create(organization=consumer, user=consumer_user, role=Role.OWNER)
    start, end = period_bounds(now, 0)
    subscription = Subscription.objects.create(
        organization=consumer,
        api=api,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
        created_by=consumer_user,
        period_anchor=now,
        current_period_start=start,
        current_period_end=end,
    )
    key_row, secret = api_key_create(actor=consumer_user, organization=consumer, name="bench")
    return {
        "slug": SLUG,
        "key": secret,
        "key_prefix": key_row.prefix,
        "api_id": api.pk,
        "plan_id": plan.pk,
        "subscription_id": subscription.pk,
    }


def flush() -> dict:
    from apps.metering.tasks import flush_usage

    started, flushed, runs = time.monotonic(), 0, 0
    while True:
        runs += 1
        done = flush_usage()
        flushed += done
        if not done:
            break
    return {"flushed": flushed, "runs": runs, "seconds": round(time.monotonic() - started, 3)}


def totals() -> dict:
    from apps.metering.models import UsageAggregate

    fields = [
        "calls",
        "billable_calls",
        "billable_units",
        "status_2xx",
        "status_3xx",
        "status_4xx",
        "status_5xx",
        "gateway_errors",
    ]
    sums = UsageAggregate.objects.aggregate(**{f: Sum(f) for f in fields})
    out = {f: (sums[f] or 0) for f in fields}
    out["billable_units"] = str(Decimal(out["billable_units"]).normalize())
    out["rows"] = UsageAggregate.objects.count()
    return out


def metered(path: str) -> dict:
    from apps.metering.models import MeteredCall

    ids = MeteredCall.objects.values_list("request_id", flat=True).iterator(chunk_size=10_000)
    count = 0
    with open(path, "w") as out:
        for request_id in ids:
            out.write(request_id + "\n")
            count += 1
    return {"ids": count}


def ledger() -> dict:
    from apps.metering.models import FlushState

    return dict(FlushState.objects.values_list("source", "flushed_events"))


def reset() -> dict:
    from apps.metering import models

    for model in (
        models.UsageAggregate,
        models.UsageDaily,
        models.UsageEvent,
        models.StartedCall,
        models.MeteredCall,
        models.FlushState,
        models.QuotaCounter,
    ):
        model.objects.all().delete()
    return {"reset": True}


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            if command["cmd"] == "seed":
                result = seed(command["upstream_url"])
            elif command["cmd"] == "flush":
                result = flush()
            elif command["cmd"] == "totals":
                result = totals()
            elif command["cmd"] == "metered":
                result = metered(command["path"])
            elif command["cmd"] == "ledger":
                result = ledger()
            elif command["cmd"] == "reset":
                result = reset()
            elif command["cmd"] == "quit":
                break
            else:
                result = {"error": f"unknown command {command['cmd']!r}"}
        except Exception as error:  # report, keep serving: the driver decides
            result = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(result), flush=True)
    from django.db import connections

    connections.close_all()


if __name__ == "__main__":
    main()
