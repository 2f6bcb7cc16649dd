"""A real Chromium for the browser tests: Debian's `chromium` package driven by Playwright, never a browser
Playwright downloads. Where neither is installed the tests skip and say which package they need; CI sets
`EFFEKT_REQUIRE_BROWSER=1`, which turns that skip into a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser.site import StaticSite, serve

CHROMIUM = os.environ.get("EFFEKT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
MISSING = "needs Debian's `chromium` package (apt-get install chromium)"


def _unavailable(reason: str) -> None:
    if os.environ.get("EFFEKT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"EFFEKT_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"{MISSING}: {reason}")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no browser at {CHROMIUM}")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
def site() -> Iterator[StaticSite]:
    """A static page on an origin of its own (another port than every service): the partner UI."""
    with serve() as running:
        yield running
