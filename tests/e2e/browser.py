"""Headless Chromium for the dashboard tests: the driver fixture and page helpers.

Importing this module skips the importing test module where Debian's chromium and
chromium-driver are not installed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def start_chrome(*extra: str) -> WebDriver:
    """Headless Chromium at a laptop's screen size, with any extra command-line switches."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,900",
        *extra,
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    # Generous: the suite shares two cores with everything else on the machine.
    driver.set_page_load_timeout(180)
    return driver


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium for one test."""
    driver = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()


def left(page: WebElement) -> bool:
    """Whether ``page`` (an element of the previous page) is gone, for a WebDriverWait.

    While the next page replaces it, chromedriver can answer "Node with given id does not
    belong to the document" instead of a stale-element error: that, too, means it is gone.
    """
    try:
        return bool(ec.staleness_of(page)(None))
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise


def submit(browser: WebDriver, by: str, value: str) -> None:
    """Click a submit button or a link and wait for the next page."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, value).click()
    WebDriverWait(browser, 20).until(lambda _: left(page))


def wait_for(driver: WebDriver, css: str, timeout: float = 90) -> None:
    """Wait until an element matching ``css`` is on the page."""
    WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def shot(browser: WebDriver, name: str) -> None:
    """Save a screenshot under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
