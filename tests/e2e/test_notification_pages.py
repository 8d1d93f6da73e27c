"""A support lead sets up Slack and e-mail alerts in the dashboard, in a real headless Chromium.

The real app behind the shell's login, a Slack fake that checks Block Kit bodies and an
aiosmtpd server: the lead sets the time zone, adds a Vietnamese Slack channel and an
e-mail channel, presses each one's test-send button and sees the answer; a Vietnamese
complaint posted to the API then reaches Slack through the outbox. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from langnghe.config import Settings
from langnghe.secrets import new_key
from store.db import Database
from tests.conftest import TenantKey
from tests.e2e.browser import browser, shot, submit
from tests.helpers import running_api
from tests.integration.chat_servers import SmtpServer, slack_server
from tests.integration.scripted import ScriptedAnalyzer
from workers.analysis import analyze_batch
from workers.delivery import deliver_due
from workers.notifications import Notifier
from workers.ssrf import TargetGuard, parse_networks

pytestmark = pytest.mark.e2e

__all__ = ["browser"]  # the fixture, imported for pytest


def _fill(browser: WebDriver, fields: dict[str, str]) -> None:
    for element_id, value in fields.items():
        element = browser.find_element(By.ID, element_id)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def _test_button(browser: WebDriver, name: str) -> None:
    submit(browser, By.CSS_SELECTOR, f"#channels tr[data-name='{name}'] button.test-send")


def test_a_support_lead_sets_up_slack_and_email_and_tests_them(
    database_url: str, db: Database, tenant: TenantKey, tmp_path: Path, browser: WebDriver
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=new_key(),
        webhook_allowed_networks="127.0.0.0/8",
        public_url="https://cx.example.vn",
    )
    with (
        running_api(settings) as url,
        httpx.Client(base_url=url, timeout=30) as client,
        slack_server() as slack,
        SmtpServer() as smtp,
    ):
        browser.get(f"{url}/dashboard/notifications")
        browser.find_element(By.ID, "api_key").send_keys(tenant.key)
        submit(browser, By.CSS_SELECTOR, "button[type=submit]")
        assert browser.current_url.endswith("/dashboard/notifications")
        assert "Notifications" in browser.find_element(By.CSS_SELECTOR, "header.top nav").text

        _fill(browser, {"time-zone": "Asia/Ho_Chi_Minh"})
        submit(browser, By.ID, "set-zone")
        assert "Asia/Ho_Chi_Minh" in browser.find_element(By.ID, "result").text

        _fill(
            browser,
            {"kind": "slack", "name": "cskh", "language": "vi", "webhook-url": slack.url},
        )
        _fill(browser, {"min-priority": "p2"})
        submit(browser, By.ID, "add")
        row = browser.find_element(By.CSS_SELECTOR, "#channels tr[data-name=cskh]").text
        assert "slack" in row and "…-xyz" in row and "secret-token" not in row

        _fill(
            browser,
            {
                "kind": "email",
                "name": "leads",
                "smtp-host": "127.0.0.1",
                "smtp-port": str(smtp.port),
                "smtp-security": "none",
                "smtp-from": "alerts@cx.example.vn",
                "smtp-to": "lead@cx.example.vn",
            },
        )
        submit(browser, By.ID, "add")
        # A login over a plain connection is refused, with the reason on the page.
        _fill(
            browser,
            {
                "kind": "email",
                "name": "unsafe",
                "smtp-host": "127.0.0.1",
                "smtp-security": "none",
                "smtp-username": "u",
                "smtp-password": "p",
                "smtp-from": "a@cx.example.vn",
                "smtp-to": "b@cx.example.vn",
            },
        )
        submit(browser, By.ID, "add")
        assert "TLS" in browser.find_element(By.ID, "error").text

        _test_button(browser, "cskh")
        assert "Test message sent (answer 200)" in browser.find_element(By.ID, "result").text
        assert slack.delivered()[0]["text"].startswith("Tin nhắn thử từ langnghe")
        _test_button(browser, "leads")
        assert "Test message sent (answer 250)" in browser.find_element(By.ID, "result").text
        assert smtp.mails[0]["To"] == "lead@cx.example.vn"
        shot(browser, "notifications")

        # A Vietnamese complaint posted to the API reaches Slack through the outbox.
        response = client.post(
            "/v1/feedback",
            json={"items": [{"text": "angry sev=high churn cat=delivery vi", "channel": "social"}]},
            headers=tenant.headers,
        )
        ids = [UUID(i["id"]) for i in response.json()["items"]]
        analyze_batch(db, ScriptedAnalyzer(), ids, max_attempts=5)
        deliver_due(
            db,
            timeout_s=5,
            max_attempts=3,
            backoff_base_s=1,
            backoff_max_s=1,
            guard=TargetGuard(allowed_networks=parse_networks("127.0.0.0/8")),
            notifier=Notifier.from_settings(settings),
        )
        assert slack.problems == []
        alert = slack.delivered()[-1]
        assert alert["text"].startswith("Khiếu nại cần xử lý · P1")
        assert "https://cx.example.vn/dashboard/inbox/" in alert["blocks"][1]["text"]["text"]
        assert len(smtp.mails) == 2  # the e-mail channel routes every priority
