"""The import graph points downward (DESIGN.md, "Layout"): the apps below billing never
import it. The rating engine lives beside the plans it rates (apps.subscriptions.rating),
so nothing below billing needs billing to price anything."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

APPS = Path(settings.BASE_DIR) / "apps"
BELOW_BILLING = ["core", "accounts", "catalog", "subscriptions", "keys", "metering", "gateway"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("app", BELOW_BILLING)
def test_apps_below_billing_never_import_it(app):
    offenders = {
        str(path.relative_to(APPS)): sorted(
            n for n in _imports(path) if n.startswith("apps.billing")
        )
        for path in (APPS / app).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_whether_a_subscription_is_in_trial_is_decided_in_one_place():
    """Every place that needs it calls apps.subscriptions.trials.in_trial; nobody compares
    the status or the trial's end date on their own."""
    allowed = {"subscriptions/trials.py", "subscriptions/models.py", "subscriptions/services.py"}
    found = []
    for path in APPS.rglob("*.py"):
        relative = str(path.relative_to(APPS))
        if relative in allowed or "/migrations/" in relative:
            continue
        text = path.read_text()
        for needle in ('== "trialing"', "== SubscriptionStatus.TRIALING", "trial_ends_at >"):
            if needle in text:
                found.append((relative, needle))
    assert found == []
