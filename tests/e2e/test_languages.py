"""Every dashboard page in Vietnamese and in English, in a real headless Chromium.

The tenant has topics and themes fitted from the known-groups corpus. The analyst logs in
(English: the language this browser asks for), reads every page, switches to Vietnamese
with the header's link and reads them again: each page carries its language in
``<html lang>``, a known translated heading, and in Vietnamese no English navigation label.
Screenshots go to test-artifacts/lang-{vi,en}-<page>.png.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import browser, left, shot, submit, wait_for
from tests.helpers import running_api
from tests.topic_fixture import (
    store_over_eight_weeks,
)
from workers.topics import refit_tenant

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, imported for pytest

NAV_EN = (
    "Themes", "Topics", "Drivers", "Inbox", "Signals", "Customers", "Categories", "Models",
    "Notifications", "Connectors", "Log out",
)  # fmt: skip
# Each page and a heading it shows, in English and in Vietnamese.
PAGES = {
    "topics": ("/dashboard/topics", "Overall CSAT and NPS by week", "CSAT và NPS chung theo tuần"),
    "themes": ("/dashboard/themes", "items in no theme", "phản hồi không thuộc nhóm nào"),
    "theme": ("/dashboard/themes/{theme}", "Representative feedback", "Phản hồi tiêu biểu"),
    # The figures strip is a macro of another template: it must read the language too.
    "topic": ("/dashboard/topics/{topic}", "of all feedback", "trên tổng số phản hồi"),
    "drivers": ("/dashboard/drivers", "What moves CSAT", "Tác động đến CSAT"),
    "inbox": ("/dashboard/inbox", "Complaint inbox", "Hộp khiếu nại"),
    "signals": ("/dashboard/signals", "Recent CSAT drops", "CSAT giảm gần đây"),
    "customers": ("/dashboard/customers", "silent detractors", "khách không hài lòng im lặng"),
    "categories": ("/dashboard/taxonomy", "Complaint categories", "Danh mục khiếu nại"),
    "models": ("/dashboard/models", "Every candidate", "Mọi ứng viên"),
    "notifications": ("/dashboard/notifications", "Add a channel", "Thêm kênh"),
    "connectors": ("/dashboard/connectors", "No connector yet", "Chưa có kết nối nào"),
}


def _read_every_page(browser: WebDriver, url: str, lang: str, ids: dict[str, int]) -> None:
    for name, (path, en, vi) in PAGES.items():
        browser.get(url + path.format(**ids))
        wait_for(browser, "main")
        html = browser.find_element(By.TAG_NAME, "html")
        assert html.get_attribute("lang") == lang, name
        text = browser.find_element(By.TAG_NAME, "body").text
        assert (vi if lang == "vi" else en) in text, name
        nav = browser.find_element(By.CSS_SELECTOR, "header.top").text
        if lang == "vi":
            assert en not in text, name
            left_in_english = [w for w in NAV_EN if w in nav.split("\n")]
            assert not left_in_english, (name, left_in_english)
        else:
            assert "Topics" in nav and "Signals" in nav, name
        if name == "topics":
            # Mean CSAT, to two decimals: a decimal comma in Vietnamese, a point in English.
            csat = browser.find_elements(By.CSS_SELECTOR, ".kpis .kpi b")[1].text
            assert ("," if lang == "vi" else ".") in csat, csat
        if name in ("topics", "theme", "topic", "signals"):
            wait_for(browser, ".chart .main-svg")  # plotly drew the page's chart
        shot(browser, f"lang-{lang}-{name}")


def test_every_page_reads_in_vietnamese_and_in_english(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    store_over_eight_weeks(db, tenant.id, 17)
    settings = Settings(database_url=database_url, data_dir=tmp_path, topics_min_docs=20)
    refit_tenant(db, tenant.id, settings)
    with db.transaction() as conn:
        topics = conn.execute(
            "SELECT topic_id FROM topic_assignments WHERE tenant_id = %s", (tenant.id,)
        ).fetchall()
        largest = Counter(r["topic_id"] for r in topics).most_common(1)[0][0]
        theme = conn.execute(
            "SELECT theme_id FROM topics WHERE tenant_id = %s AND id = %s", (tenant.id, largest)
        ).fetchone()
    assert theme is not None
    ids = {"topic": largest, "theme": theme["theme_id"]}

    with running_api(settings) as url:
        browser.get(f"{url}/dashboard/topics")
        wait_for(browser, "#api_key")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        wait_for(browser, "#topic-table")
        _read_every_page(browser, url, "en", ids)

        # The header's link switches to Vietnamese and comes back to the same page.
        browser.get(f"{url}/dashboard/signals?period=week&by=channel&weeks=10")
        page = browser.find_element(By.TAG_NAME, "html")
        browser.find_element(By.ID, "lang-vi").click()
        WebDriverWait(browser, 30).until(lambda _: left(page))
        assert browser.current_url.endswith("/dashboard/signals?period=week&by=channel&weeks=10")
        signals = browser.find_element(By.ID, "signals").text
        # Vietnamese dates and a chart per channel.
        assert " thg " in signals
        assert len(browser.find_elements(By.CSS_SELECTOR, "#signals section.segment")) >= 1
        _read_every_page(browser, url, "vi", ids)

        # And back: English again, from the Vietnamese page's link.
        page = browser.find_element(By.TAG_NAME, "html")
        browser.find_element(By.ID, "lang-en").click()
        WebDriverWait(browser, 30).until(lambda _: left(page))
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
