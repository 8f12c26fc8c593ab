import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_openapi_schema_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_swagger_ui_is_served_from_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_seed_demo_is_idempotent_and_prints_working_tokens(client, capsys):
    call_command("seed_demo", "--json")
    first = json.loads(capsys.readouterr().out)
    call_command("seed_demo", "--json")
    second = json.loads(capsys.readouterr().out)
    assert first == second
    for role in ("staff", "provider", "consumer"):
        person = first[role]
        response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {person['token']}")
        assert response.status_code == 200
        assert response.json()["user"]["email"] == person["email"]
    assert client.login(email=first["provider"]["email"], password=first["provider"]["password"])


def test_admin_lists_every_model(client, staff):
    client.force_login(staff)
    for path in [
        "/admin/accounts/user/",
        "/admin/accounts/organization/",
        "/admin/accounts/membership/",
        "/admin/accounts/invitation/",
        "/admin/accounts/accesstoken/",
        "/admin/core/auditlog/",
    ]:
        assert client.get(path).status_code == 200, path


def test_admin_is_staff_only(client, owner):
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url
