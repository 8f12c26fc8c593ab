"""docs/operations: the Grafana dashboard and the alerting rules parse, and every `tollgate_…`
metric they query is one /metrics really exposes (after real gateway calls and a Celery
task, so the labelled series exist)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from django.apps import apps
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from apps.core.metrics import connect_celery_signals
from tests.observability.conftest import METRICS_URLS

pytestmark = pytest.mark.urls(METRICS_URLS)

OPERATIONS = Path(settings.BASE_DIR) / "docs" / "operations"
METRIC_NAME = re.compile(r"\btollgate_[a-z0-9_]+")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "unknown": ("",),
}


def _dashboard() -> dict:
    return json.loads((OPERATIONS / "grafana-dashboard.json").read_text())


def _rules() -> list[dict]:
    document = yaml.safe_load((OPERATIONS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_expressions(dashboard: dict) -> list[str]:
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    expressions += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable.get("definition")
    ]
    return expressions


def _exposed_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


def _only_with_payouts(name: str) -> bool:
    return name.startswith("tollgate_payouts") and not apps.is_installed("apps.payouts")


def test_the_dashboard_is_an_importable_grafana_dashboard():
    dashboard = _dashboard()
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "api"} <= variables
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("outcome", "error ratio", "latency", "refusals", "upstream", "flush lag"):
        assert topic in titles
    for topic in ("pending", "celery failures", "invoices", "payment failed"):
        assert topic in titles
    expressions = " ".join(_dashboard_expressions(dashboard))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in expressions


def test_the_alerts_parse_and_cover_the_issue():
    rules = _rules()
    names = {rule["alert"] for rule in rules}
    assert {
        "TollgateFlushLagging",
        "TollgatePendingUsageGrowing",
        "TollgateGateway5xxRatioHigh",
        "TollgateUpstreamTimeoutSpike",
        "TollgateCeleryTaskFailures",
        "TollgateCounterStoreErrors",
        "TollgateNotReady",
    } <= names
    readme = (OPERATIONS / "README.md").read_text()
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f"### {rule['alert']}" in readme and anchor == rule["alert"].lower()
    flush = next(rule for rule in rules if rule["alert"] == "TollgateFlushLagging")
    assert "tollgate_flush_lag_seconds" in flush["expr"] and "> 60" in flush["expr"]
    assert flush["for"] == "5m"
    assert "0.05" in next(r for r in rules if r["alert"] == "TollgateGateway5xxRatioHigh")["expr"]


@pytest.mark.skipif(
    not shutil.which("promtool"), reason="needs promtool (apt-get install prometheus)"
)
def test_promtool_checks_and_unit_tests_the_rules():
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run(
            ["promtool", *command], cwd=OPERATIONS, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_every_metric_the_dashboard_and_alerts_use_is_exposed(world, settings):
    from apps.metering.tasks import flush_usage

    settings.METRICS_TOKEN = "docs-token"
    connect_celery_signals()
    assert world.call().status_code == 200
    assert world.call("/drop").status_code == 502
    assert world.call(key=False).status_code == 401
    flush_usage.apply()
    response = requests.get(
        f"{world.site.url}/metrics", headers={"Authorization": "Bearer docs-token"}, timeout=30
    )
    assert response.status_code == 200
    exposed = _exposed_names(response.text)

    used = {
        "dashboard": {
            n for e in _dashboard_expressions(_dashboard()) for n in METRIC_NAME.findall(e)
        },
        "alerts": {n for rule in _rules() for n in METRIC_NAME.findall(rule["expr"])},
    }
    for source, names in used.items():
        assert names, source
        missing = {name for name in names - exposed if not _only_with_payouts(name)}
        assert not missing, f"{source} uses metrics /metrics does not expose: {missing}"
