"""A consumer cannot leave the API's upstream base path. The upstream here normalizes paths
the way permissive servers do (percent-decoding until stable, `\\` as a separator, `;params`
cut off, dot segments resolved) and serves a file outside the base path: every escape the
gateway let through would read it. Paths go out raw (http.client), so no client normalizes
them first."""

import http.client
import json
import posixpath
import re
import unicodedata
from urllib.parse import unquote, urlsplit

import pytest
from aiohttp import web

from tests.servers import ThreadedAiohttpServer

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = b"INTERNAL: not part of the API"
FILES = {"/public/hello.txt": b"hello from /public", "/internal.txt": SECRET}


OVERLONG = {"%c0%ae": ".", "%e0%80%ae": ".", "%c0%af": "/", "%c1%9c": "\\"}


def normalize(raw_path: str) -> str:
    path = raw_path.split("?", 1)[0]
    for overlong, plain in OVERLONG.items():  # as lenient old UTF-8 decoders read them
        path = re.sub(re.escape(overlong), plain.replace("\\", "\\\\"), path, flags=re.I)
    for _ in range(4):  # some servers decode twice; this one decodes until nothing changes
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    path = unicodedata.normalize("NFKC", path)  # as frameworks that fold text do
    path = path.replace("\\", "/")
    segments = [segment.split(";", 1)[0] for segment in path.split("/")]  # Tomcat-style
    return posixpath.normpath("/" + "/".join(segments).lstrip("/"))


class NormalizingUpstream(ThreadedAiohttpServer):
    def __init__(self):
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(request.raw_path)
        body = FILES.get(normalize(request.raw_path))
        if body is None:
            return web.Response(status=404, text="no such file")
        return web.Response(body=body)


@pytest.fixture
def normalizing(world):
    with NormalizingUpstream() as server:
        world.api.upstream_url = server.url + "/public"
        world.api.save(update_fields=["upstream_url"])
        yield server


def raw_get(world, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """GET /gw/<slug><path> with the path exactly as written."""
    site = urlsplit(world.site.url)
    connection = http.client.HTTPConnection(site.hostname, site.port, timeout=30)
    try:
        connection.putrequest("GET", f"/gw/{world.api.slug}{path}", skip_accept_encoding=True)
        connection.putheader("X-Api-Key", world.key)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


ESCAPES = [
    "/../internal.txt",
    "/a/../../internal.txt",
    "/./../internal.txt",
    "/%2e%2e/internal.txt",
    "/%2E%2E/internal.txt",
    "/%2e%2E/internal.txt",
    "/.%2e/internal.txt",
    "/%2e./internal.txt",
    "/..%2finternal.txt",
    "/..%2Finternal.txt",
    "/%2e%2e%2finternal.txt",
    "/..%5cinternal.txt",
    "/..%5Cinternal.txt",
    "/%2e%2e%5cinternal.txt",
    "/..\\internal.txt",
    "/%252e%252e/internal.txt",
    "/..%252finternal.txt",
    "/..;/internal.txt",
    "/..;x=1/internal.txt",
    "/hello.txt/../../internal.txt",
    "/%c0%ae%c0%ae/internal.txt",
    "/..%c0%afinternal.txt",
    "/%ef%bc%8e%ef%bc%8e/internal.txt",
    "/%ef%bc%8e%ef%bc%8e%ef%bc%8finternal.txt",
    "/%e2%80%a5/internal.txt",
]


def test_the_normalizing_upstream_would_serve_what_lies_outside_the_base_path():
    """The upstream really is the dangerous kind: each escape, sent to it directly,
    reads the file outside /public."""
    for escape in ESCAPES:
        assert FILES.get(normalize("/public" + escape)) == SECRET, escape


def test_a_path_that_leaves_the_base_path_is_refused_before_the_upstream(world, normalizing):
    answers = {}
    for path in ESCAPES:  # one site for all of them: a live server per case is slow
        status, headers, body = raw_get(world, path)
        problem = (
            json.loads(body) if headers.get("Content-Type") == "application/problem+json" else {}
        )
        same_id = problem.get("request_id") == headers["X-Tollgate-Request-Id"]
        answers[path] = (status, problem.get("code"), same_id, SECRET in body)
    assert answers == dict.fromkeys(ESCAPES, (400, "invalid_path", True, False))
    assert normalizing.received == []  # the upstream never saw any of them


def test_paths_that_stay_under_the_base_path_go_through_as_sent(world, normalizing):
    sent = {
        "/hello.txt": "/public/hello.txt",
        "/files/a%2Fb/c%5Cd": "/public/files/a%2Fb/c%5Cd",
        "/v1/...x/x..y/.well/..hidden": "/public/v1/...x/x..y/.well/..hidden",
        "/reports/2026.11/summary.v2.json": "/public/reports/2026.11/summary.v2.json",
    }
    answers = {path: raw_get(world, path) for path in sent}
    assert normalizing.received == list(sent.values())
    assert answers["/hello.txt"][2] == b"hello from /public"
    assert not any(SECRET in body for _, _, body in answers.values())


def test_a_refused_path_is_not_billed(world, normalizing):
    from tests.gateway.conftest import settle

    raw_get(world, "/%2e%2e/internal.txt")
    raw_get(world, "/hello.txt")
    settle(1)  # only the call that went upstream counts
