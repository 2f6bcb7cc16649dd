"""The reference partner console (examples/partner-console), built from its lock file and served on an
origin of its own under its recommended CSP, in a real Chromium against the seeded demo: a municipality
sees its own residents and its claims to verify, an investor sees money and never a person (not in the
DOM, not in any response or WebSocket frame), and a verification in one browser context reaches the
other's page live, over graphql-transport-ws, without a reload; signing out ends the sign-in."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    WebSocket,
    expect,
)
from playwright.async_api import (
    Error as PlaywrightError,
)

from effekt.launcher import Platform
from effekt.sandbox.console import ConsoleSite
from effekt.sandbox.identifiers import HERNING
from effekt.seed import PASSWORD
from tests.browser.conftest import Demo
from tests.gateway.support import gid

PEOPLE = """query($id: ID!) { partnership(id: $id) {
  participants(first: 200) { nodes { id uuid pseudonym municipalityCode municipalReference } } } }"""
LABELS = {
    "da-DK": ("Log ind", "E-mailadresse", "Adgangskode", "Log ind og tillad"),
    "en-GB": ("Sign in", "E-mail address", "Password", "Sign in and allow"),
}


async def _people(platform: Platform, demo: Demo, *payers: str) -> list[dict[str, Any]]:
    """Every participant, with each paying municipality's own case reference (only it may read them)."""
    people: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=platform.url("gateway")) as gateway:
        for payer in payers:
            response = await gateway.post(
                "/graphql",
                json={"query": PEOPLE, "variables": {"id": gid("Partnership", demo.partnership_id)}},
                headers={"Authorization": f"Bearer {demo.tokens[payer]['token']}"},
            )
            people += response.json()["data"]["partnership"]["participants"]["nodes"]
    return people


async def _sign_in(page: Page, site: ConsoleSite, email: str, locale: str) -> None:
    console, email_label, password_label, allow = LABELS[locale]
    await page.goto(f"{site.origin}/")
    await page.get_by_role("button", name=console, exact=True).click()
    await page.get_by_label(email_label).fill(email)
    await page.get_by_label(password_label).fill(PASSWORD)
    await page.get_by_role("button", name=allow).click()
    # Signed in, the view read, and the ledger followed live.
    await expect(page.locator("[data-live]")).to_have_attribute("data-live", "on", timeout=20000)


async def test_a_municipality_verifies_and_the_investor_sees_money_live_and_no_person(
    browser: Browser, platform: Platform, demo: Demo, console_site: ConsoleSite
) -> None:
    people = await _people(platform, demo, "herning", "viborg")
    residents = [p for p in people if p["municipalityCode"] == HERNING]
    others = [p for p in people if p["municipalityCode"] != HERNING]
    assert residents
    assert others

    blocked: list[str] = []  # CSP reports and page errors, in either page
    bodies: list[str] = []  # everything the investor's page received

    def watch(page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text or message.type == "error":
                blocked.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: blocked.append(str(error)))

    herning_context = await browser.new_context(locale="da-DK", viewport={"width": 1200, "height": 900})
    investor_context = await browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    responses: list[Response] = []
    investor_context.on("response", lambda response: responses.append(response))

    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: bodies.append(str(frame)))

    try:
        herning = await herning_context.new_page()
        watch(herning)
        await _sign_in(herning, console_site, demo.users["herning"]["email"], "da-DK")
        await expect(herning.locator("html")).to_have_attribute("lang", "da")
        await expect(herning.locator("#who")).to_contain_text("Herning Kommune")
        # Its own residents, with its case references; no other municipality's resident anywhere.
        rows = herning.locator("#residents tbody tr")
        await expect(rows).to_have_count(len(residents))
        shown = {await row.get_attribute("data-pseudonym") for row in await rows.all()}
        assert shown == {p["pseudonym"] for p in residents}
        page_text = await herning.content()
        assert all(p["municipalReference"] in page_text for p in residents)
        assert not any(p["pseudonym"] in page_text or p["municipalReference"] in page_text for p in others)
        # The demo leaves one of Herning's claims waiting.
        waiting = herning.locator("#claims tbody tr")
        await expect(waiting).to_have_count(1)

        # The investor signs in, in English, in another browser context.
        investor = await investor_context.new_page()
        watch(investor)
        investor.on("websocket", on_socket)
        await _sign_in(investor, console_site, demo.users["investor"]["email"], "en-GB")
        await expect(investor.locator("html")).to_have_attribute("lang", "en")
        # Small counts come withheld (the small-cell rule, threshold 5): the 2 claims waiting show as "5 or
        # fewer", and what was earned, which sums months with 5 or fewer verified, is withheld too. Last
        # month's 6 verified job starts are above the threshold: they show, in the chart.
        earned = investor.locator("#earned")
        await expect(earned).to_have_text("Withheld")
        await expect(investor.locator("#pending")).to_have_text("5 or fewer claims")
        await expect(investor.locator("#small-cells")).to_contain_text("Counts of 5 or fewer are withheld")
        cumulative = investor.locator("#cumulative")
        before = await cumulative.text_content()
        assert await investor.locator("svg[role=img] rect.bar").count() >= 1

        # Herning verifies; the investor's figures move without a reload: 7 verified last month now. The
        # claims waiting (now 1) stay "5 or fewer": the step from 2 to 1 shows nothing.
        await waiting.get_by_role("button", name="Godkend").click()
        await expect(herning.locator("#no-claims")).to_be_visible()
        await expect(cumulative).not_to_have_text(before or "", timeout=15000)
        await expect(investor.locator("#pending")).to_have_text("5 or fewer claims")
        await expect(earned).to_have_text("Withheld")
        assert investor.url == f"{console_site.origin}/"  # the same page: no navigation, no reload

        # Nothing the investor's page holds or received names a person.
        investor_text = await investor.content()
        for response in responses:
            try:
                bodies.append(await response.text())
            except PlaywrightError:  # a redirect or a preflight has no body to read
                continue
        assert len(bodies) > 5
        for person in people:
            for value in (person["id"], person["uuid"], person["pseudonym"], person["municipalReference"]):
                assert value not in investor_text, value
                assert not any(value in body for body in bodies), value
        assert blocked == []

        # Signing out ends Herning's sign-in at identity and comes back to the console, signed out.
        tokens = await herning.evaluate("JSON.parse(sessionStorage.getItem('effekt.console.tokens'))")
        await herning.get_by_role("button", name="Log ud").click()
        await expect(herning.get_by_role("button", name="Log ind", exact=True)).to_be_visible(timeout=15000)
        assert herning.url.startswith(console_site.origin)
    finally:
        await herning_context.close()
        await investor_context.close()
    async with httpx.AsyncClient(base_url=platform.url("identity")) as identity:
        refreshed = await identity.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": console_site.config["clientId"],
            },
        )
    assert refreshed.status_code == 400, refreshed.text
