"""A support lead watches the connectors page and runs one now, in a real headless Chromium.

A drop folder with a file and a mailbox whose server does not answer: the lead runs
both from the page; the folder's run shows what it stored, the mailbox's its error, and
neither stops the other.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from langnghe.config import Settings
from langnghe.secrets import new_key
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import browser, submit
from tests.helpers import free_port, running_api

pytestmark = pytest.mark.e2e

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

__all__ = ["browser"]  # the fixture, imported for the test below


def _row(driver: WebDriver, name: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f"#connectors tr[data-name={name}]").text)


def test_a_support_lead_sees_and_runs_connectors(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    (tmp_path / "drops" / "shop").mkdir(parents=True)
    (tmp_path / "drops" / "shop" / "rows.jsonl").write_text(
        '{"text": "Nhân viên tư vấn rất nhiệt tình", "channel": "review"}\n', encoding="utf-8"
    )
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key=new_key(),
        connector_folder_root=tmp_path / "drops",
        webhook_allowed_networks="127.0.0.0/8",
    )
    with running_api(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        for body in (
            {"kind": "folder", "name": "shop-drop", "config": {"path": "shop"}},
            {
                "kind": "imap",
                "name": "dead-mailbox",
                "config": {
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "security": "none",
                    "username": "support@shop.test",
                    "password": "mailbox-secret-99",
                },
            },
        ):
            created = client.post("/v1/connectors", json=body, headers=tenant.headers)
            assert created.status_code == 201, created.text

        browser.get(f"{url}/dashboard/connectors")
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        assert browser.current_url.endswith("/dashboard/connectors")
        assert "Connectors" in browser.find_element(By.CSS_SELECTOR, "header.top nav").text
        assert "never" in _row(browser, "shop-drop")

        submit(browser, By.CSS_SELECTOR, "tr[data-name=shop-drop] button.run")
        submit(browser, By.CSS_SELECTOR, "tr[data-name=dead-mailbox] button.run")
        folder = browser.find_element(By.CSS_SELECTOR, "tr[data-name=shop-drop]")
        assert folder.find_element(By.CSS_SELECTOR, "td.status").text == "ok"
        assert "1 (0)" in folder.text  # one run, no error
        mailbox = browser.find_element(By.CSS_SELECTOR, "tr[data-name=dead-mailbox]")
        assert mailbox.find_element(By.CSS_SELECTOR, "td.status").text == "error"
        assert (
            "ConnectionRefusedError" in mailbox.find_element(By.CSS_SELECTOR, "td.error-text").text
        )
        assert "mailbox-secret-99" not in browser.page_source
    assert (tmp_path / "drops" / "shop" / "processed" / "rows.jsonl").exists()
