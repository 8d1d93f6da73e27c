"""The complaint inbox and signals pages in a real headless Chromium, in the real app.

The pages are mounted by create_app behind the dashboard shell's login: the test logs
in on the shell's login page with an API key, works a complaint through the buttons,
and checks that the shell's CSRF check refuses a forged form.
Needs Debian's chromium and chromium-driver; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import ARTIFACTS, browser, left, submit
from tests.helpers import running_api
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, imported for pytest


def _seed(db: Database, client: httpx.Client, tenant: TenantKey) -> list[str]:
    items: list[dict[str, Any]] = [
        {
            "text": "angry sev=high churn Giao hàng trễ một tuần, sẽ không mua nữa",
            "channel": "social",
            "rating": 1,
        },
        {"text": "complaint cat=price_billing Bị trừ tiền hai lần", "channel": "email"},
        {"text": "pos stars=5 Hàng đẹp, giao nhanh", "channel": "review", "rating": 5},
    ]
    response = client.post("/v1/feedback", json={"items": items}, headers=tenant.headers)
    ids = [i["id"] for i in response.json()["items"]]
    analyze_batch(db, ScriptedAnalyzer(), [UUID(i) for i in ids], max_attempts=5)
    return ids


def _shot(browser: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"inbox-{name}.png"))


def test_a_support_lead_works_a_complaint_in_the_browser(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        _seed(db, client, tenant)
        browser.get(f"{url}/dashboard/inbox")
        # No session: the shell's login page, which brings us back to the inbox.
        assert "/dashboard/login" in browser.current_url
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        assert browser.current_url.endswith("/dashboard/inbox")
        nav = browser.find_element(By.CSS_SELECTOR, "header.top nav").text
        assert "Inbox" in nav and "Signals" in nav and "Topics" in nav
        rows = browser.find_elements(By.CSS_SELECTOR, "#complaints tbody tr[data-id]")
        assert len(rows) == 2
        _shot(browser, "list")

        Select(browser.find_element(By.NAME, "priority")).select_by_value("p1")
        submit(browser, By.CSS_SELECTOR, "#filters button")
        rows = browser.find_elements(By.CSS_SELECTOR, "#complaints tbody tr[data-id]")
        assert len(rows) == 1 and "Giao hàng trễ" in rows[0].text
        page = browser.find_element(By.TAG_NAME, "html")
        rows[0].find_element(By.TAG_NAME, "a").click()
        WebDriverWait(browser, 20).until(lambda _: left(page))

        assert "Giao hàng trễ một tuần" in browser.find_element(By.ID, "text").text
        assert "churn risk" in browser.find_element(By.ID, "analysis").text
        submit(browser, By.ID, "acknowledge")
        assert browser.find_element(By.ID, "status").text == "acknowledged"
        field = browser.find_element(By.ID, "assignee-input")
        field.clear()
        field.send_keys("Lan")
        submit(browser, By.ID, "assign")
        assert browser.find_element(By.ID, "assignee").text == "Lan"
        browser.find_element(By.ID, "note-input").send_keys("Đã gọi lại cho khách")
        submit(browser, By.ID, "note")
        Select(browser.find_element(By.ID, "resolution-code")).select_by_value("refunded")
        submit(browser, By.ID, "resolve")
        assert browser.find_element(By.ID, "status").text == "resolved"
        assert browser.find_element(By.ID, "resolution").text == "refunded"
        _shot(browser, "resolved")
        submit(browser, By.ID, "reopen")
        assert browser.find_element(By.ID, "status").text == "open"
        history = [
            li.get_attribute("data-action")
            for li in browser.find_elements(By.CSS_SELECTOR, "#history li")
        ]
        assert history == ["flagged", "acknowledge", "assign", "note", "resolve", "reopen"]
        assert "Đã gọi lại cho khách" in browser.find_element(By.ID, "history").text

        # The same changes went out as events, as through the API.
        events = client.get(
            "/v1/events", params={"type": "complaint.resolved"}, headers=tenant.headers
        ).json()["events"]
        assert [e["data"]["resolution_code"] for e in events] == ["refunded"]

        browser.get(f"{url}/dashboard/signals?period=day&by=channel")
        table = browser.find_element(By.ID, "signals").text
        assert "social" in table and "review" in table
        _shot(browser, "signals")

        # A form POST without the session's CSRF token is refused, even with the session cookie.
        cookie = browser.get_cookie("lng_session")
        assert cookie is not None
        complaint_id = client.get("/v1/complaints", headers=tenant.headers).json()["items"][0]["id"]
        forged = httpx.post(
            f"{url}/dashboard/inbox/{complaint_id}/acknowledge",
            data={"csrf": "forged"},
            cookies={"lng_session": cookie["value"]},
        )
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "csrf_failed"
        after = client.get(f"/v1/complaints/{complaint_id}", headers=tenant.headers).json()
        assert after["status"] == "open"  # the refused form changed nothing
