"""A support lead defines a category and corrects a complaint, in a real headless Chromium.

The real app behind the dashboard shell's login: the lead adds a category of the tenant's
own on the categories page, finds it in the inbox's category filter, corrects a complaint's
category and severity, and sees the correction beside the model's answer; the correction
went out as a ``feedback.corrected`` event. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from langnghe.config import Settings
from models import load_manifest
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import ARTIFACTS, browser, left, submit
from tests.helpers import running_api
from tests.integration.wordvec import WordVectorAnalyzer
from workers.analysis import analyze_batch

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, imported for pytest


def _shot(browser: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"taxonomy-{name}.png"))


def _cell(browser: WebDriver, field: str, cls: str) -> str:
    return str(
        browser.find_element(By.CSS_SELECTOR, f"#corrections tr[data-field={field}] td.{cls}").text
    )


def test_a_support_lead_adds_a_category_and_corrects_a_complaint(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.post(
            "/v1/feedback",
            json={"items": [{"text": "complaint bị trừ tiền hai lần", "channel": "email"}]},
            headers=tenant.headers,
        )
        ids = [UUID(i["id"]) for i in response.json()["items"]]
        analyze_batch(db, WordVectorAnalyzer(), ids, max_attempts=5)

        browser.get(f"{url}/dashboard/taxonomy")
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        assert browser.current_url.endswith("/dashboard/taxonomy")
        assert "Categories" in browser.find_element(By.CSS_SELECTOR, "header.top nav").text
        browser.find_element(By.ID, "cat-name").send_keys("card_fees")
        browser.find_element(By.ID, "cat-description").send_keys("Phí thẻ / card fees")
        browser.find_element(By.ID, "cat-examples").send_keys(
            "Bị trừ phí thường niên thẻ\nCharged an annual card fee"
        )
        submit(browser, By.ID, "add")
        assert browser.find_element(By.CSS_SELECTOR, "#own tr[data-name=card_fees]")
        assert "card_fees" in browser.find_element(By.ID, "in-force").text
        # A bad name is refused with the reason on the page, not a server error.
        browser.find_element(By.ID, "cat-name").send_keys("Bad Name")
        browser.find_element(By.ID, "cat-examples").send_keys("x")
        submit(browser, By.ID, "add")
        assert "name" in browser.find_element(By.ID, "error").text
        _shot(browser, "categories")

        browser.get(f"{url}/dashboard/inbox")
        options = [
            o.get_attribute("value")
            for o in Select(browser.find_element(By.NAME, "category")).options
        ]
        assert "card_fees" in options and "delivery" in options
        page = browser.find_element(By.TAG_NAME, "html")
        browser.find_element(By.CSS_SELECTOR, "#complaints tbody tr[data-id] a").click()
        WebDriverWait(browser, 20).until(lambda _: left(page))
        assert _cell(browser, "category", "model") == "delivery"
        assert _cell(browser, "category", "corrected") == ""
        Select(browser.find_element(By.ID, "fix-category")).select_by_value("card_fees")
        Select(browser.find_element(By.ID, "fix-severity")).select_by_value("high")
        submit(browser, By.ID, "correct")
        assert _cell(browser, "category", "model") == "delivery"
        assert _cell(browser, "category", "corrected") == "card_fees"
        assert _cell(browser, "severity", "corrected") == "high"
        assert _cell(browser, "sentiment", "corrected") == ""
        assert f"dashboard:{tenant.name}" in browser.find_element(By.ID, "corrections").text
        _shot(browser, "corrected")

        events = client.get(
            "/v1/events", params={"type": "feedback.corrected"}, headers=tenant.headers
        ).json()["events"]
        assert [e["data"]["corrected"] for e in events] == [
            {"category": "card_fees", "severity": "high"}
        ]
        assert events[0]["data"]["actor"] == f"dashboard:{tenant.name}"
        shown = client.get(f"/v1/feedback/{ids[0]}", headers=tenant.headers).json()
        assert shown["corrections"]["category"]["value"] == "card_fees"

        browser.get(f"{url}/dashboard/models")
        assert load_manifest()["encoder"] in browser.find_element(By.ID, "shipped").text
        assert "No training run yet" in browser.find_element(By.ID, "history").text
