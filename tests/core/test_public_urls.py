"""Every absolute URL a page shows follows the address it was requested on (`make run
PORT=8301` advertises :8301, not SITE_URL's :8000); emails and jobs use SITE_URL; a gateway
with an address of its own (GATEWAY_PUBLIC_URL) is named instead, and pages may fetch it."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.catalog import demo
from apps.catalog.models import Api
from apps.demo_upstreams.registry import DEMO_APIS
from tests.catalog.factories import ApiFactory, EndpointFactory
from tests.keys.conftest import subscribed

pytestmark = pytest.mark.django_db

SERVED_ON = "127.0.0.1:8301"


@pytest.fixture(autouse=True)
def _site_url_elsewhere(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.GATEWAY_PUBLIC_URL = ""


@pytest.fixture
def listing(org):
    api = ApiFactory(organization=org, name="IBAN Check", slug="iban-check")
    EndpointFactory(api=api, method="GET", path="/iban/{iban}")
    return api


def _absolute_urls(html: str) -> set[str]:
    return set(re.findall(r"https?://[^/\"'\s<&]+", html)) - {"http://www.w3.org"}


def test_the_api_page_shows_the_served_address_in_every_snippet(client, listing):
    html = client.get("/apis/iban-check/", HTTP_HOST=SERVED_ON).content.decode()
    assert 'value="http://127.0.0.1:8301/gw/iban-check"' in html
    assert "curl http://127.0.0.1:8301/gw/iban-check/…" in html
    assert "http://127.0.0.1:8301/gw/iban-check/iban/" in html  # the endpoint's snippets
    assert ":8000" not in html
    assert _absolute_urls(html) <= {f"http://{SERVED_ON}", "https://example.com"}


def test_the_platform_api_names_the_served_gateway(client, listing):
    body = client.get("/api/v1/apis/iban-check/", HTTP_HOST=SERVED_ON).json()
    assert body["gateway_url"] == "http://127.0.0.1:8301/gw/iban-check"
    listed = client.get("/api/v1/apis/", HTTP_HOST=SERVED_ON).json()["results"]
    assert listed[0]["gateway_url"] == "http://127.0.0.1:8301/gw/iban-check"


def test_the_new_key_curl_and_the_providers_line_use_the_served_address(owner_client, org):
    subscribed(org, name="Weather", slug="weather")
    response = owner_client.post("/console/keys/", {"name": "backend"}, HTTP_HOST=SERVED_ON)
    html = response.content.decode()
    assert 'curl "http://127.0.0.1:8301/gw/' in html and ":8000" not in html
    mine = ApiFactory(organization=org, slug="my-api")
    html = owner_client.get(f"/console/apis/{mine.slug}/", HTTP_HOST=SERVED_ON).content.decode()
    assert "http://127.0.0.1:8301/gw/my-api/…" in html


def test_a_gateway_with_its_own_address_is_named_and_allowed_by_the_csp(client, listing, settings):
    settings.GATEWAY_PUBLIC_URL = "https://gw.example.com/"
    response = client.get("/apis/iban-check/", HTTP_HOST=SERVED_ON)
    assert 'value="https://gw.example.com/iban-check"' in response.content.decode()
    assert "connect-src 'self' https://gw.example.com;" in response["Content-Security-Policy"]


def test_the_site_own_gateway_needs_no_csp_exception(client, listing):
    policy = client.get("/apis/iban-check/", HTTP_HOST=SERVED_ON)["Content-Security-Policy"]
    assert "connect-src 'self';" in policy


def test_demo_descriptions_name_the_gateway_of_site_url(settings, owner, org):
    settings.SITE_URL = "http://127.0.0.1:8301"
    entry = next(e for e in DEMO_APIS if e["slug"] == "finance-validators")
    assert "{gateway}" in entry["description"]
    demo.seed({"provider_user": owner, "provider_org": org})
    description = Api.objects.get(slug="finance-validators").description
    assert "curl http://127.0.0.1:8301/gw/finance-validators/iban/" in description
    assert "{gateway}" not in description and ":8000" not in description


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_run_on_another_port_gives_emails_and_jobs_that_port():
    # what the processes `make run PORT=8301` starts see in their environment
    shown = subprocess.run(
        ["make", "-s", "--eval=show-site-url: ; @echo $$SITE_URL", "show-site-url", "PORT=8301"],
        cwd=Path(__file__).resolve().parents[2],
        env={k: v for k, v in os.environ.items() if k != "SITE_URL"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "http://127.0.0.1:8301"
