"""The gateway test world (a real upstream, the site under uvicorn, a subscribed consumer
with a key) and helpers to read /metrics as Prometheus would."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.conftest import counter_store, upstream, world  # noqa: F401

METRICS_URLS = "tests.observability.urls"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text → {(sample name, labels): value}."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def value(text_or_samples, name: str, **labels) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    parsed = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    return parsed.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scrape(client, settings):
    """GET /metrics in-process, from loopback, with no token configured."""
    settings.METRICS_TOKEN = ""

    def get(**headers) -> str:
        response = client.get("/metrics", **headers)
        assert response.status_code == 200, response.content
        return response.content.decode()

    return get
