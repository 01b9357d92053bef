"""What the real-browser tests share: Debian's chromium driven headless by Playwright for Python (the system
browser, never a browser download), the check that turns a missing browser into a skip (or, with
REQUIRE_BROWSER=1 as in CI, a failure), and a recorder of what a page requested and complained about.

A test module uses them with:

    pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]

    @pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
    def test_x():
        with asgi_server() as base, chromium() as browser:
            page = browser.new_page()
            log = record(page)
            ...
            assert log.foreign_requests(base) == []
"""

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from incubator.tests.live import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "var" / "artifacts"  # screenshots, kept by CI as artifacts
# Root in containers: Chromium's sandbox needs user namespaces.
LAUNCH_ARGS = ["--no-sandbox"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - CI installs requirements-dev.txt
    sync_playwright = None


def browser_missing() -> str | None:
    """Why a browser test cannot run here, or None. CI sets REQUIRE_BROWSER=1: there a missing browser fails
    the test instead of skipping it, so the gate cannot quietly turn itself off."""
    reason = _why_missing()
    if reason and os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but {reason}")
    return reason


def _why_missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """The system's Chromium, headless, closed on the way out (a failed assertion included)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Addresses that never leave the browser: inline images and fonts, and objects the page made itself (workers).
LOCAL_SCHEMES = ("data", "blob")


@dataclass
class PageLog:
    """Every request a page made, and its console errors and uncaught exceptions, in order."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def foreign_requests(self, base: str) -> list[str]:
        """The requests that went anywhere but the server at `base` (scheme, host and port): nothing a page
        loads may leave the host, whether a font, a logo, a validator badge or an API call."""
        origin = urlsplit(base)[:2]
        return [
            url for url in self.requests if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url)[:2] != origin
        ]

    def errors(self) -> list[str]:
        return [f"console: {text}" for text in self.console_errors] + [f"page: {text}" for text in self.page_errors]


def record(page: Any) -> PageLog:
    """Starts recording what `page` requests and reports, from now on (attach before the first goto)."""
    log = PageLog()
    page.on("request", lambda request: log.requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and log.console_errors.append(_console(message)))
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    return log


def _console(message: Any) -> str:
    location = message.location or {}
    where = location.get("url")
    return f"{message.text} ({where})" if where else message.text
