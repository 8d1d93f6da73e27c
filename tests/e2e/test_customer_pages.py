"""The customer pages in a real headless Chromium, in the real app, against the JSON API.

A tenant's customers are loaded through the API (interactions, feedback analysed by the
scripted analyzer, profiles refreshed as the worker does); the test logs in on the shell's
login page and checks that the pages show who is at risk and why, one customer's timeline
and segment history, and the loop lists, with the same counts as /v1/customers.
Needs Debian's chromium and chromium-driver; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from langnghe.config import Settings
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import browser, shot, submit
from tests.helpers import running_api
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.customers import refresh_dirty

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, imported for pytest

NOW = datetime.now(UTC)


def _ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def _orders(ref: str, days: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "customer_ref": ref,
            "type": "order",
            "occurred_at": _ago(d),
            "value": 100,
            "external_id": f"o-{ref}-{d}",
        }
        for d in days
    ]


def _answer(ref: str, days: float, nps: int) -> dict[str, Any]:
    return {
        "customer_ref": ref,
        "type": "survey_answered",
        "occurred_at": _ago(days),
        "external_id": f"s-{ref}",
        "attributes": {"nps": nps},
    }


def _shot(browser: WebDriver, name: str) -> None:
    shot(browser, f"customers-{name}")


def _refs(browser: WebDriver, table: str) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-ref]")
    return [str(r.get_attribute("data-ref")) for r in rows]


def _kpi(browser: WebDriver, name: str) -> int:
    return int(browser.find_element(By.CSS_SELECTOR, f"#kpi-{name} .n").text)


def test_a_lead_sees_who_is_at_risk_why_and_the_loop_lists(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    late = {
        "customer_ref": "quiet",
        "type": "delivery",
        "occurred_at": _ago(49),
        "external_id": "d-quiet",
        "attributes": {"promised_at": _ago(48), "delivered_at": _ago(44)},
    }
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        items = [
            *_orders("quiet", [130, 110, 90, 70, 50]),
            late,
            *_orders("loyal", [35, 25, 15, 5]),
            *_orders("fan", [30, 20, 10, 2]),
            _answer("fan", 2, 10),
            *_orders("lukewarm", [31, 21, 11, 3]),
            _answer("lukewarm", 3, 8),
        ]
        response = client.post("/v1/interactions", json={"items": items}, headers=tenant.headers)
        assert response.status_code == 202, response.text
        fb = client.post(
            "/v1/feedback",
            json={
                "items": [
                    {
                        "text": "neg stars=2 giao hàng chậm",
                        "channel": "email",
                        "customer_ref": "lukewarm",
                        "occurred_at": _ago(4),
                    }
                ]
            },
            headers=tenant.headers,
        )
        analyze_batch(
            db, ScriptedAnalyzer(), [UUID(i["id"]) for i in fb.json()["items"]], max_attempts=5
        )
        refresh_dirty(db)
        api = client.get("/v1/customers", params={"cancelled": False}, headers=tenant.headers)
        ranked = [c["ref"] for c in api.json()["items"]]
        assert ranked[0] == "quiet"

        browser.get(f"{url}/dashboard/customers")
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        assert browser.current_url.endswith("/dashboard/customers")
        assert "Customers" in browser.find_element(By.CSS_SELECTOR, "header.top nav").text
        assert _refs(browser, "customers") == ranked
        first = browser.find_element(By.CSS_SELECTOR, "#customers tr[data-ref=quiet]")
        assert "4.0 days late" in first.text and "high" in first.text
        silent = client.get("/v1/customers/silent-detractors", headers=tenant.headers).json()
        assert _kpi(browser, "silent") == silent["count"] == 1
        for name in ("detractors", "passives", "promoters"):
            listed = client.get(f"/v1/customers/lists/{name}", headers=tenant.headers).json()
            assert _kpi(browser, name) == listed["count"], name
        assert "+1 in 30 days" in browser.find_element(By.ID, "kpi-promoters").text
        _shot(browser, "list")

        Select(browser.find_element(By.NAME, "segment")).select_by_value("promoter")
        submit(browser, By.ID, "filter")
        assert _refs(browser, "customers") == ["fan"]

        browser.get(f"{url}/dashboard/customers")
        submit(browser, By.CSS_SELECTOR, "#customers tr[data-ref=quiet] a")
        assert browser.find_element(By.ID, "ref").text == "quiet"
        reasons = browser.find_elements(By.CSS_SELECTOR, "#reasons li")
        assert reasons[0].get_attribute("data-code") == "silence_after_bad_experience"
        detail = client.get("/v1/customers/quiet", headers=tenant.headers).json()
        shown = browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr[data-id]")
        assert [r.get_attribute("data-id") for r in shown] == [
            str(e["id"]) for e in detail["timeline"]
        ]
        assert any("interaction: delivery" in r.text for r in shown)
        assert "detractor" in browser.find_element(By.ID, "segments").text
        _shot(browser, "detail")

        # A customer across channels: feedback beside interactions in one timeline.
        browser.get(f"{url}/dashboard/customers/lukewarm")
        kinds = {
            r.get_attribute("data-kind")
            for r in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr[data-id]")
        }
        assert kinds == {"feedback", "interaction"}

        browser.get(f"{url}/dashboard/customers/lists/promoters")
        assert _refs(browser, "loop") == ["fan"]
        browser.get(f"{url}/dashboard/customers/lists/passives")
        assert _refs(browser, "loop") == ["lukewarm"]
        _shot(browser, "passives")

        browser.get(f"{url}/dashboard/customers/nobody")
        assert "No customer nobody" in browser.find_element(By.ID, "error").text
