import pytest

pytestmark = pytest.mark.django_db


def test_healthz_says_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_counter_store_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert set(checks) == {"database", "counter_store", "broker"}
    assert checks["database"]["status"] == "ok"


def test_readyz_is_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["counter_store"]["status"].startswith("error")
