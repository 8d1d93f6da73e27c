"""The analyst dashboard in a real headless Chromium: log in, read topics, edit one.

Needs Debian's chromium and chromium-driver (scripts/install.sh installs them when it
can); screenshots are kept under test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import ARTIFACTS, start_chrome, wait_for
from tests.helpers import running_api
from tests.topic_fixture import (
    corpus,
    store_over_eight_weeks,
)
from workers.topics import refit_tenant

pytestmark = pytest.mark.e2e


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium in Vietnamese."""
    driver = start_chrome("--lang=vi-VN")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def dashboard(db: Database, tenant: TenantKey, database_url: str, tmp_path: Path) -> Iterator[str]:
    """A running API whose tenant has fitted topics over the known-groups corpus."""
    store_over_eight_weeks(db, tenant.id, 11)
    settings = Settings(database_url=database_url, data_dir=tmp_path, topics_min_docs=20)
    refit_tenant(db, tenant.id, settings)
    with running_api(settings) as url:
        yield url


def test_an_analyst_logs_in_reads_topics_and_renames_one(
    browser: WebDriver, dashboard: str, tenant: TenantKey
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(f"{dashboard}/dashboard/topics")
    # Not logged in: the login page, which refuses a wrong key.
    wait_for(browser, "#api_key")
    browser.find_element(By.ID, "api_key").send_keys("lng_wrong")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, ".error")
    assert "not valid" in browser.find_element(By.CSS_SELECTOR, ".error").text

    browser.find_element(By.ID, "api_key").send_keys(tenant.key)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, "#topic-table")
    wait_for(browser, "#csat-trend .main-svg")  # plotly drew the CSAT/NPS chart
    page = browser.find_element(By.TAG_NAME, "body").text
    # English: the language this headless Chromium asks for; Vietnamese is in test_languages.
    assert "Topics" in page and str(len(corpus()[0])) in page
    rows = browser.find_elements(By.CSS_SELECTOR, "#topic-table tbody tr")
    assert len(rows) >= 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#topic-table svg.spark")) == len(rows)
    assert "nhân viên" in page  # Vietnamese keywords as words
    browser.save_screenshot(str(ARTIFACTS / "dashboard_topics.png"))

    staff = next(
        link
        for link in browser.find_elements(By.CSS_SELECTOR, "a.topic-link")
        if "nhân viên" in link.text or "staff" in link.text
    )
    staff.click()
    wait_for(browser, "#topic-title")
    wait_for(browser, "#topic-trend .main-svg")
    quotes = [q.text for q in browser.find_elements(By.CSS_SELECTOR, "#quotes .quote")]
    assert len(quotes) >= 5 and any("Nhân viên" in q for q in quotes)
    assert "mean inferred CSAT" in browser.find_element(By.TAG_NAME, "body").text
    browser.save_screenshot(str(ARTIFACTS / "dashboard_topic.png"))

    name = browser.find_element(By.NAME, "label")
    name.clear()
    name.send_keys("Nhân viên thân thiện")
    browser.find_element(By.CSS_SELECTOR, "button[value=rename]").click()
    # The form posts and the page reloads: an element read mid-reload is stale, not wrong.
    WebDriverWait(browser, 90, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.ID, "topic-title").text == "Nhân viên thân thiện"
    )

    browser.get(f"{dashboard}/dashboard/drivers")
    wait_for(browser, "#drivers-table")
    drivers = browser.find_elements(By.CSS_SELECTOR, "#drivers-table tbody tr")
    assert len(drivers) >= 5
    # The praised topic lifts CSAT, so it ranks last.
    assert "Nhân viên thân thiện" in drivers[-1].text

    # A form posted without its CSRF token is refused, even with the session cookie.
    cookie = browser.get_cookie("lng_session")
    assert cookie is not None
    refused = httpx.post(
        f"{dashboard}/dashboard/refit",
        cookies={"lng_session": cookie["value"]},
        data={"csrf": "forged"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert httpx.get(f"{dashboard}/dashboard/static/plotly.min.js").status_code == 200
