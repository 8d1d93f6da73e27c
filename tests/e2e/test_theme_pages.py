"""An analyst drills theme -> topic -> quotes and regroups topics, in a real headless Chromium.

Topics and themes are fitted from the known-groups corpus (one theme per topic, so a
move is between two themes the grouping keeps apart); the analyst moves the refund
topic into the delivery theme from the topic's page, finds both topics and quotes from
each on the theme's page, and renames the theme. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import browser, shot, submit, wait_for
from tests.helpers import running_api
from tests.topic_fixture import (
    GROUPS,
    group_names,
    store_over_eight_weeks,
)
from workers.topics import refit_tenant

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, imported for pytest


def test_an_analyst_drills_a_theme_moves_a_topic_and_renames_the_theme(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    ids = store_over_eight_weeks(db, tenant.id, 13)
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, topics_min_docs=20, topics_theme_distance=0.01
    )
    refit_tenant(db, tenant.id, settings)
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT feedback_id, topic_id FROM topic_assignments WHERE tenant_id = %s",
            (tenant.id,),
        ).fetchall()
        themes = {
            r["id"]: r["theme_id"]
            for r in conn.execute(
                "SELECT id, theme_id FROM topics WHERE tenant_id = %s", (tenant.id,)
            ).fetchall()
        }
    by_id = {r["feedback_id"]: r["topic_id"] for r in rows}
    names = group_names()
    topic = {
        g: Counter(by_id[i] for i, n in zip(ids, names, strict=True) if n == g).most_common(1)[0][0]
        for g in GROUPS
    }
    delivery_theme = themes[topic["delivery"]]

    with running_api(settings) as url:
        browser.get(f"{url}/dashboard/themes")
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        wait_for(browser, "#theme-table")
        rows_shown = browser.find_elements(By.CSS_SELECTOR, "#theme-table tbody tr")
        assert len(rows_shown) == len(GROUPS)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#theme-table svg.spark")) == len(GROUPS)
        shot(browser, "themes-list")

        # The refund topic's page: move it into the delivery theme.
        browser.get(f"{url}/dashboard/topics/{topic['refund']}")
        wait_for(browser, "#topic-title")
        Select(browser.find_element(By.NAME, "theme")).select_by_value(str(delivery_theme))
        submit(browser, By.CSS_SELECTOR, "button[value=move]")
        link = browser.find_element(By.ID, "topic-theme")
        assert str(link.get_attribute("href")).endswith(f"/dashboard/themes/{delivery_theme}")

        # Theme -> its topics and quotes from each of them.
        submit(browser, By.ID, "topic-theme")
        wait_for(browser, "#theme-trend .main-svg")  # plotly drew the weekly chart
        members = browser.find_elements(By.CSS_SELECTOR, "#theme-topic-table a.topic-link")
        assert len(members) == 2
        assert "moved here" in browser.find_element(By.ID, "theme-topic-table").text
        quoted = {
            str(a.get_attribute("href")).rsplit("/", 1)[1]
            for a in browser.find_elements(By.CSS_SELECTOR, "#quotes .meta a")
        }
        assert quoted == {str(topic["delivery"]), str(topic["refund"])}
        shot(browser, "theme-detail")

        name = browser.find_element(By.NAME, "label")
        name.clear()
        name.send_keys("Giao hàng và hoàn tiền")
        submit(browser, By.CSS_SELECTOR, "button[value=rename]")
        assert browser.find_element(By.ID, "theme-title").text == "Giao hàng và hoàn tiền"

        # Theme -> topic -> quotes: the delivery topic's page lists its feedback.
        submit(browser, By.CSS_SELECTOR, f"#theme-topic-table a[href$='/{topic['delivery']}']")
        wait_for(browser, "#quotes .quote")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#quotes .quote")) >= 5
        assert "Giao hàng và hoàn tiền" in browser.find_element(By.ID, "topic-theme").text

        browser.get(f"{url}/dashboard/themes")
        wait_for(browser, "#theme-table")
        shown = browser.find_elements(By.CSS_SELECTOR, "#theme-table tbody tr")
        assert len(shown) == len(GROUPS) - 1  # the refund theme was left empty
        assert "Giao hàng và hoàn tiền" in browser.find_element(By.ID, "theme-table").text

        # The signals page splits CSAT by theme, each by its name.
        browser.get(f"{url}/dashboard/signals?period=week&by=theme")
        wait_for(browser, "#signals")
        assert "Giao hàng và hoàn tiền" in browser.find_element(By.ID, "signals").text
        shot(browser, "signals-by-theme")
