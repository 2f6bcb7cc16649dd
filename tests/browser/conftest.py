"""A real Chromium for the browser tests: Debian's `chromium` package driven by Playwright, never a browser
Playwright downloads. Where neither is installed the tests skip and say which package they need; CI sets
`EFFEKT_REQUIRE_BROWSER=1`, which turns that skip into a failure."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from effekt.launcher import Platform
from effekt.sandbox import console, directory
from effekt.seed import seed
from tests.browser.site import StaticSite, serve

CHROMIUM = os.environ.get("EFFEKT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
MISSING = "needs Debian's `chromium` package (apt-get install chromium)"


@dataclass(frozen=True)
class Demo:
    data_dir: Path
    partnership_id: str
    users: dict[str, dict[str, str]]  # key -> e-mail, organisation_id, partner_type
    tokens: dict[str, dict[str, str]]  # key -> ... and a fresh access token


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


@pytest.fixture(scope="session")
async def demo(platform: Platform) -> Demo:
    """The demo `effekt up` seeds, in the data directory GraphiQL's picker reads (tests/conftest.py)."""
    data_dir = Path(platform.env["GATEWAY_GRAPHIQL_DEMO_FILE"]).parent
    tokens = await asyncio.to_thread(seed, platform, data_dir)
    state = json.loads((data_dir / "demo.json").read_text())
    return Demo(
        data_dir=data_dir, partnership_id=state["partnership_id"], users=state["users"], tokens=tokens
    )


@pytest.fixture(scope="session")
def console_dist() -> Path:
    """The partner console, built from its lock file (npm ci, npm run build), or the build an earlier run
    made of exactly these sources, lock file and Node.js (`console.cached_build`): npm ci and the build
    cost a minute on a busy machine, and give the same files for the same inputs."""
    try:
        return console.cached_build()
    except console.NpmMissing as missing:
        _unavailable(str(missing))
        raise


@pytest.fixture
async def console_site(platform: Platform, console_dist: Path) -> AsyncIterator[console.ConsoleSite]:
    """The console on an origin of its own, with a public client the operator registered for it (one
    client serves every organisation's users, as the platform's own UIs do)."""
    with console.serve(console_dist) as running:
        client = await directory.create_web_client(platform, "Partner console (test)", running.redirect_uri)
        running.config.update(
            issuer=platform.url("identity"), gateway=platform.url("gateway"), clientId=client["client_id"]
        )
        yield running
