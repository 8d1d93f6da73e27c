"""Body limits on the real app served by uvicorn, and the error shape of unexpected errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from api.middleware import RequestContext
from tests.conftest import TenantKey
from tests.helpers import free_port, serve_in_thread

pytestmark = pytest.mark.integration

CHUNK = b"[" * (1 << 20)


def _chunks(megabytes: int) -> Iterator[bytes]:
    # A generator body: httpx sends it with Transfer-Encoding: chunked, no Content-Length.
    for _ in range(megabytes):
        yield CHUNK


@pytest.mark.parametrize(
    ("path", "authorised"),
    [("/v1/feedback", True), ("/v1/webhooks", False), ("/dashboard/login", False)],
)
def test_a_chunked_body_is_cut_off_at_the_limit_without_buffering(
    api_url: str, tenant: TenantKey, path: str, authorised: bool
) -> None:
    # The server runs in this process, so this process's RSS is the server's. Before the
    # limit was counted on the stream, 300 MB chunked to these routes took it from about
    # 100 MB to 700-960 MB.
    process = psutil.Process()
    rss_before = process.memory_info().rss
    headers = {"Content-Type": "application/json", **(tenant.headers if authorised else {})}
    response = httpx.post(api_url + path, content=_chunks(300), headers=headers, timeout=60)
    grown_mb = (process.memory_info().rss - rss_before) / 2**20
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert error["details"] == {"limit_bytes": 200_000}
    assert response.headers["x-request-id"]
    assert grown_mb < 50


def test_a_declared_length_over_the_limit_is_refused_before_the_body(api_url: str) -> None:
    # A raw socket: no HTTP client will send a Content-Length it does not then honour.
    host, port = urlsplit(api_url).hostname, urlsplit(api_url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n{"
        )
        # Headers and body may come in separate segments: read until the server closes.
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b'"code"' in b"".join(chunks):
                break
        reply = b"".join(chunks).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert '"code":"request_too_large"' in reply


def test_small_routes_have_the_smaller_limit(client: httpx.Client, tenant: TenantKey) -> None:
    body = b'{"url": "https://example.com/' + b"a" * 250_000 + b'"}'
    response = client.post("/v1/webhooks", content=body, headers=tenant.headers)
    assert response.status_code == 413


async def _crashing_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def test_an_unhandled_error_is_json_with_the_request_id() -> None:
    port = free_port()
    config = uvicorn.Config(
        RequestContext(_crashing_app), port=port, log_config=None, lifespan="off"
    )
    with serve_in_thread(uvicorn.Server(config)):
        mine = httpx.get(f"http://127.0.0.1:{port}/x", headers={"X-Request-Id": "abc-123"})
        fresh = httpx.get(f"http://127.0.0.1:{port}/x", headers={"X-Request-Id": "x" * 101})
    assert mine.status_code == 500
    assert mine.headers["content-type"] == "application/json"
    assert mine.json()["error"]["code"] == "internal_error"
    assert mine.json()["error"]["details"] == {"request_id": "abc-123"}
    assert mine.headers["x-request-id"] == "abc-123"
    # An id that is not short and plain is replaced, not echoed into headers and logs.
    assert fresh.headers["x-request-id"] != "x" * 101
    assert fresh.json()["error"]["details"]["request_id"] == fresh.headers["x-request-id"]
