"""The local access log (`make run`: Procfile.dev's web line, uvicorn's access log on) never
prints a key, token or signature pasted into a URL's query string."""

import os
import time

import pytest
import requests

from apps.core.secrets import generate_secret
from tests.servers import free_port, procfile_command, server_process

API_KEY = generate_secret("tg")
QUERY = (
    f"key={API_KEY}&api_key=plain-upstream-key-1&apikey=another-key-2"
    "&access_token=opaque-token-3&sig=deadbeef4&page=7&q=weather"
)


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "PORT": str(port),
    }
    log = tmp_path / "web.log"
    with log.open("w") as output:
        command = procfile_command("Procfile.dev", "web")
        with server_process(command, port=port, env=env, output=output):
            yield f"http://127.0.0.1:{port}", log


def test_the_access_log_redacts_credentials_in_query_strings(dev_server):
    url, log = dev_server
    requests.get(f"{url}/healthz?{QUERY}", timeout=10)
    requests.get(f"{url}/gw/no-such-api/forecast?{QUERY}", timeout=10)
    requests.get(f"{url}/apis/?{QUERY}", timeout=10)
    deadline = time.monotonic() + 10
    while log.read_text().count("?key=") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    lines = [line for line in text.splitlines() if "?key=" in line]
    assert len(lines) == 3, text
    for secret in (API_KEY, "plain-upstream-key-1", "another-key-2", "opaque-token-3", "deadbeef4"):
        assert secret not in text
    for line in lines:
        assert "key=[redacted]&api_key=[redacted]&apikey=[redacted]" in line, line
        assert "access_token=[redacted]&sig=[redacted]&page=7&q=weather" in line, line
    assert any('"GET /gw/no-such-api/forecast?key=[redacted]' in line for line in lines)
