"""Markdown tables from one or more results files of bench/gateway_bench.py: with several
runs, each figure is the median over the runs (the range is shown for the main ones).

    .venv/bin/python bench/report.py bench/results/run-*.json
"""

import json
import statistics
import sys
from pathlib import Path


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values, fmt="{:.0f}"):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return f" ({fmt.format(min(values))}–{fmt.format(max(values))})"


def calib(rows) -> str:
    values = [v for r in rows for v in r.get("calibration_ms", [])]
    return f"{median(values):.1f}{spread(values, '{:.1f}')}" if values else "–"


def main(paths: list[Path]) -> None:
    runs = [json.loads(p.read_text()) for p in paths]
    print(f"{len(runs)} run(s): " + ", ".join(r["started_at"] for r in runs) + "\n")
    by_workers: dict[int, list] = {}
    for run in runs:
        for block in run["by_workers"]:
            by_workers.setdefault(block["workers"], []).append(block)
    for workers, blocks in sorted(by_workers.items()):
        print(f"#### Gateway with {workers} worker process{'es' if workers > 1 else ''}\n")
        print(
            "| scenario | direct req/s | gateway req/s | ratio | added p50 ms | added p99 ms "
            "| gateway CPU µs/req | gateway cores | Redis CPU µs/req | others (cores) "
            "| calibration ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        scenarios = [row["scenario"] for row in blocks[0]["summary"]["rows"]]
        for scenario in scenarios:
            rows = [
                row for b in blocks for row in b["summary"]["rows"] if row["scenario"] == scenario
            ]

            def col(name, rows=rows):
                return [row[name] for row in rows]

            others = [max(r["other_cores_direct"], r["other_cores"]) for r in rows]
            print(
                f"| {scenario} | {median(col('direct_rps')):.0f}{spread(col('direct_rps'))} "
                f"| {median(col('gateway_rps')):.0f}{spread(col('gateway_rps'))} "
                f"| {median(col('ratio')):.3f}{spread(col('ratio'), '{:.3f}')} "
                f"| {median(col('added_p50_ms')):.2f}{spread(col('added_p50_ms'), '{:.2f}')} "
                f"| {median(col('added_p99_ms')):.2f}{spread(col('added_p99_ms'), '{:.2f}')} "
                f"| {median(col('gateway_cpu_us_per_request')):.0f}"
                f"{spread(col('gateway_cpu_us_per_request'))} "
                f"| {median(col('gateway_cores')):.2f} "
                f"| {median(col('redis_cpu_us_per_request')):.0f} "
                f"| {median(others):.2f} "
                f"| {calib(rows)} |"
            )
        print()
        print("| latency (ms) | direct p50 | gateway p50 | direct p99 | gateway p99 |")
        print("|---|---:|---:|---:|---:|")
        for scenario in scenarios:
            rows = [
                row for b in blocks for row in b["summary"]["rows"] if row["scenario"] == scenario
            ]
            print(
                f"| {scenario} | {median([r['direct_p50_ms'] for r in rows]):.2f} "
                f"| {median([r['gateway_p50_ms'] for r in rows]):.2f} "
                f"| {median([r['direct_p99_ms'] for r in rows]):.2f} "
                f"| {median([r['gateway_p99_ms'] for r in rows]):.2f} |"
            )
        print()
        print("| metering | served by upstream | metered calls | billable units | lost | double |")
        print("|---|---:|---:|---:|---:|---:|")
        for i, block in enumerate(blocks):
            served = calls = units = 0
            for run in [block["warmup"], *block["runs"], *block.get("discarded_runs", [])]:
                if run["target"] != "gateway":
                    continue
                m = run["metering"]
                served += m["upstream_served"]
                calls += m["metered_calls"]
                units += m["metered_billable_units"]
            exact = block["exact"]
            print(
                f"| run {i + 1}: every wrk run through the gateway | {served} | {calls} "
                f"| {units:.0f} | {block['summary']['lost']} | {block['summary']['double_counted']} |"
            )
            print(
                f"| run {i + 1}: exact client, {exact['calls_sent']} calls "
                f"(2xx {exact['client'].get('2xx', 0)}) | {exact['upstream_served']} "
                f"| {exact['metered_calls']} | {exact['metered_billable_units']:.0f} "
                f"| {max(exact['upstream_served'] - exact['metered_calls'], 0)} "
                f"| {max(exact['metered_calls'] - exact['upstream_served'], 0)} |"
            )
        print()
        print("| target | " + " | ".join(f"run {i + 1}" for i in range(len(blocks))) + " |")
        print("|---|" + "---|" * len(blocks))
        for index, verdict in enumerate(blocks[0]["verdicts"]):
            cells = []
            for block in blocks:
                v = block["verdicts"][index]
                mark = "pass" if v["pass"] else "**miss**"
                cells.append(f"{v['value']} {mark} ({v['margin']})" if v["margin"] else mark)
            print(f"| {verdict['target']} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
