"""Browser tests: Debian's headless Chromium, driven by Selenium, against the app served over real HTTP."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (needs chromium and chromedriver)")


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"chromium is not installed ({CHROMIUM}; Debian package 'chromium')"
    if not os.path.exists(CHROMEDRIVER):
        return f"chromedriver is not installed ({CHROMEDRIVER}; Debian package 'chromium-driver')"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-test.txt) to drive chromium"
    return None


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


class Browser:
    """A Selenium driver with the few helpers the tests need: open, wait for, click, screenshot."""

    def __init__(self, driver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "condition"):
        """Poll `predicate(driver)` until truthy. Live regions re-render and pages navigate under the poll, so
        a driver error (stale element, a node gone from its document) means ask again; the last one is shown
        if time runs out."""
        from selenium.common.exceptions import WebDriverException

        deadline = time.time() + timeout
        last_error: WebDriverException | None = None
        while True:
            try:
                value = predicate(self.driver)
                if value:
                    return value
            except WebDriverException as error:
                last_error = error
            if time.time() > deadline:
                detail = f" (last driver error: {last_error.msg})" if last_error else ""
                raise AssertionError(f"timed out waiting for {what} on {self.driver.current_url}{detail}")
            time.sleep(0.2)

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector: str) -> str:
        return self.wait_for(lambda d: self.css(selector).text or " ", what=selector).strip()

    def click(self, selector: str, accept_confirm: bool = False) -> None:
        """Click; when the element submits a form or follows a link, return only once the next page replaced
        this one, so what the test reads next is never the page it just left."""
        element = self.wait_for(lambda d: self.css(selector), what=selector)
        navigates = self.driver.execute_script(
            "var e = arguments[0]; return !!((e.form && e.type === 'submit') || e.closest('a[href]'));", element
        )
        if navigates:  # a mark only this document carries: the next page has none
            self.driver.execute_script("window.__pageBeforeClick = true;")
        self.wait_for(lambda d: self.css(selector).click() or True, what=f"click {selector}")
        if accept_confirm:
            self.wait_for(lambda d: d.switch_to.alert, what="the confirm dialog").accept()
        if navigates:
            self.wait_for(_replaced, what=f"the page after clicking {selector}")

    def click_link(self, text: str) -> None:
        from selenium.webdriver.common.by import By

        self.wait_for(lambda d: d.find_element(By.LINK_TEXT, text).click() or True, what=f"the {text} link")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def _replaced(driver) -> bool:
    """True once the page that carried the click's mark is gone. Asking an element of the old page instead
    is not reliable: chromedriver sometimes answers an unknown error, not a stale element, mid-navigation.
    While the next document loads the driver may raise; wait_for asks again."""
    return driver.execute_script("return window.__pageBeforeClick !== true;")


@pytest.fixture
def browser(live_server):
    missing = _missing()
    if missing:
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser(driver, live_server.url)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
