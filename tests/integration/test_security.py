"""Security an operator expects: server-side logout, headers, forms, URL credentials, metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest

from langnghe.config import Settings
from tests.conftest import TenantKey
from tests.helpers import running_api

pytestmark = pytest.mark.integration


def _login(api_url: str, tenant: TenantKey) -> httpx.Client:
    browser = httpx.Client(base_url=api_url, timeout=30)
    page = browser.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    response = browser.post(
        "/dashboard/login", data={"csrf": csrf.group(1), "api_key": tenant.key, "next": ""}
    )
    assert response.status_code == 303, response.text
    return browser


def _session_csrf(browser: httpx.Client) -> str:
    page = browser.get("/dashboard/topics")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def browser(api_url: str, tenant: TenantKey) -> Iterator[httpx.Client]:
    """A logged-in dashboard client."""
    client = _login(api_url, tenant)
    yield client
    client.close()


def test_logout_ends_the_session_on_the_server(browser: httpx.Client) -> None:
    csrf = _session_csrf(browser)
    cookie = browser.cookies["lng_session"]
    assert browser.post("/dashboard/logout", data={"csrf": csrf}).status_code == 303
    # The cookie's signature still holds; replaying it after logout must not log in.
    browser.cookies.set("lng_session", cookie, path="/dashboard")
    replayed = browser.get("/dashboard/topics")
    assert replayed.status_code == 303 and "/dashboard/login" in replayed.headers["location"]


def test_dashboard_pages_carry_security_headers(client: httpx.Client) -> None:
    page = client.get("/dashboard/login")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self' 'nonce-" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/dashboard/topics/1/edit", {"action": "rename", "label": "a\x00b"}),
        ("/dashboard/inbox/{id}/note", {"note": "call me\x00"}),
        ("/dashboard/inbox/{id}/assign", {"assignee": "x\x00"}),
        ("/dashboard/inbox/{id}/note", {"note": "n" * 10_001}),
        ("/dashboard/inbox/{id}/assign", {"assignee": "a" * 201}),
    ],
)
def test_forms_refuse_what_the_api_refuses(
    browser: httpx.Client, path: str, fields: dict[str, str]
) -> None:
    csrf = _session_csrf(browser)
    response = browser.post(path.format(id=uuid4()), data={"csrf": csrf, **fields})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


def test_webhook_url_credentials_are_never_shown(client: httpx.Client, tenant: TenantKey) -> None:
    body = {"url": "http://hook-user:s3cret@127.0.0.1:9/x?a=1", "event_types": ["*"]}
    created = client.post("/v1/webhooks", json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    listed = client.get("/v1/webhooks", headers=tenant.headers).json()
    for shown in (created.json()["url"], *(w["url"] for w in listed)):
        assert "s3cret" not in shown and "hook-user" not in shown
    assert created.json()["url"] == "http://***@127.0.0.1:9/x?a=1"


def test_metrics_need_the_token_when_one_is_set(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"metrics_token": "metrics-token-123"})
    with running_api(settings) as url:
        refused = httpx.get(f"{url}/metrics")
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"})
        allowed = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer metrics-token-123"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_metrics_token"
    assert allowed.status_code == 200 and "langnghe_feedback_items" in allowed.text
    off = api_settings.model_copy(update={"metrics_enabled": False})
    with running_api(off) as url:
        assert httpx.get(f"{url}/metrics").status_code == 404
