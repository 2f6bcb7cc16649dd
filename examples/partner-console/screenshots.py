"""Screenshots of the partner console, one per partner type, for docs/integrations/partner-ui.md:

    .venv/bin/python examples/partner-console/screenshots.py [out_dir]

Starts a disposable platform (the PostgreSQL on 127.0.0.1:5432, else the embedded one) with the demo
`effekt up` seeds, builds the console from its lock file (npm ci, npm run build), serves it on an origin
of its own, signs in as the Herning, provider, investor and evaluator demo users in Debian's Chromium
(Playwright, never a browser it downloads) and writes `<partner type>.png` to `out_dir` (default:
`screenshots/` beside this file). Everything it made is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from effekt.launcher import Platform
from effekt.sandbox import console, directory
from effekt.sandbox.platform import postgres_server, running_platform
from effekt.seed import PASSWORD, seed

WHO = {"municipality": "herning", "provider": "provider", "investor": "investor", "evaluator": "evaluator"}


async def shoot(platform: Platform, users: dict[str, dict[str, str]], dist: Path, out_dir: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with console.serve(dist) as site:
        client = await directory.create_web_client(
            platform, "Partner console (screenshots)", site.redirect_uri
        )
        site.config.update(
            issuer=platform.url("identity"), gateway=platform.url("gateway"), clientId=client["client_id"]
        )
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
            for partner_type, key in WHO.items():
                context = await browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 800})
                page = await context.new_page()
                await page.goto(f"{site.origin}/")
                await page.get_by_role("button", name="Sign in", exact=True).click()
                await page.get_by_label("E-mail address").fill(users[key]["email"])
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Sign in and allow").click()
                await page.locator("[data-live=on]").wait_for(timeout=30000)
                await page.locator("main table").first.wait_for()
                await page.screenshot(path=out_dir / f"{partner_type}.png", full_page=True)
                await context.close()
                print(f"wrote {out_dir / f'{partner_type}.png'}")
            await browser.close()
    await directory.close_clients()


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else Path(__file__).resolve().parent / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with postgres_server(work) as server, running_platform(server, work / "logs") as platform:
            seed(platform, work)
            users = json.loads((work / "demo.json").read_text())["users"]
            dist = console.build(work / "dist")
            asyncio.run(shoot(platform, users, dist, out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
