"""The reference partner console (examples/partner-console), built from its lock file and served on an
origin of its own under its recommended CSP, in a real Chromium against the seeded demo: a municipality
sees its own residents and its claims to verify, an investor sees money and never a person (not in the
DOM, not in any response or WebSocket frame), and a verification in one browser context reaches the
other's page live, over graphql-transport-ws, without a reload; signing out ends the sign-in. Each partner
type's view is photographed on the way: with `EFFEKT_SCREENSHOTS=<folder>` the pictures land there
(`examples/partner-console/screenshots.py` sets it to the folder docs/integrations/partner-ui.md links)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
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
from tests.browser.support import PHOTOGRAPHED
from tests.gateway.support import gid

PEOPLE = """query($id: ID!) { partnership(id: $id) {
  participants(first: 200) { nodes { id uuid pseudonym municipalityCode municipalReference } } } }"""
CLAIMS = """query($id: ID!) { partnership(id: $id) { claims(first: 200) { nodes { id } } } }"""
LABELS = {
    "da-DK": ("Log ind", "E-mailadresse", "Adgangskode", "Log ind og tillad"),
    "en-GB": ("Sign in", "E-mail address", "Password", "Sign in and allow"),
}


async def _ask(platform: Platform, demo: Demo, who: str, query: str) -> dict[str, Any]:
    """The demo partnership as one demo user reads it through the graph (not through the console)."""
    async with httpx.AsyncClient(base_url=platform.url("gateway")) as gateway:
        response = await gateway.post(
            "/graphql",
            json={"query": query, "variables": {"id": gid("Partnership", demo.partnership_id)}},
            headers={"Authorization": f"Bearer {demo.tokens[who]['token']}"},
        )
    assert response.status_code == 200, response.text
    partnership: dict[str, Any] = response.json()["data"]["partnership"]
    return partnership


async def _people(platform: Platform, demo: Demo, *payers: str) -> list[dict[str, Any]]:
    """Every participant, with each paying municipality's own case reference (only it may read them)."""
    people: list[dict[str, Any]] = []
    for payer in payers:
        people += (await _ask(platform, demo, payer, PEOPLE))["participants"]["nodes"]
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


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: `EFFEKT_SCREENSHOTS` when set, else the test's own temporary folder."""
    out_dir = Path(os.environ.get("EFFEKT_SCREENSHOTS") or tmp_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


async def test_each_partner_type_sees_its_own_view_and_is_photographed(
    browser: Browser, platform: Platform, demo: Demo, console_site: ConsoleSite, screenshots: Path
) -> None:
    """A municipality its residents and claims to verify, a provider every participant and claim it made, an
    investor money and no table of people, an evaluator one pseudonymised record per participant without
    case numbers; each view's screenshot is taken here (it runs before the verification below changes the
    demo, so the municipality's picture shows a claim waiting)."""
    people = await _people(platform, demo, "herning", "viborg")
    residents = {p["pseudonym"] for p in people if p["municipalityCode"] == HERNING}
    claims = (await _ask(platform, demo, "provider", CLAIMS))["claims"]["nodes"]
    assert claims

    async def pseudonyms(page: Page, table: str) -> set[str | None]:
        return {
            await row.get_attribute("data-pseudonym") for row in await page.locator(f"{table} tbody tr").all()
        }

    for partner_type, who in PHOTOGRAPHED.items():
        context = await browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 800})
        try:
            page = await context.new_page()
            await _sign_in(page, console_site, demo.users[who]["email"], "en-GB")
            await expect(page.locator(f"#who [data-partner-type={partner_type.upper()}]")).to_be_visible()
            tables = page.locator("main table[id]")
            await expect(tables.first).to_be_visible()
            if partner_type == "municipality":
                await expect(page.locator("#residents tbody tr")).to_have_count(len(residents))
                assert await pseudonyms(page, "#residents") == residents
                await expect(page.locator("#claims tbody tr").first).to_be_visible()
            elif partner_type == "provider":
                await expect(page.locator("#participants tbody tr")).to_have_count(len(people))
                assert await pseudonyms(page, "#participants") == {p["pseudonym"] for p in people}
                await expect(page.locator("#claims tbody tr")).to_have_count(len(claims))
                assert {
                    await row.get_attribute("data-claim")
                    for row in await page.locator("#claims tbody tr").all()
                } == {claim["id"] for claim in claims}
            elif partner_type == "investor":
                await expect(page.locator("#money #earned")).to_be_visible()
                await expect(page.locator("svg[role=img] rect.bar").first).to_be_attached()
                assert await tables.evaluate_all("ts => ts.map(t => t.id)") == ["statements"]
            else:
                await expect(page.locator("#records tbody tr")).to_have_count(len(people))
                assert await pseudonyms(page, "#records") == {p["pseudonym"] for p in people}
            text = await page.content()
            if partner_type != "municipality":  # case numbers are the paying municipality's alone
                assert not any(p["municipalReference"] in text for p in people), partner_type
            if partner_type == "investor":
                assert not any(p["pseudonym"] in text for p in people)
            picture = screenshots / f"{partner_type}.png"
            shot = await page.screenshot(path=picture, full_page=True)
            assert shot.startswith(b"\x89PNG\r\n\x1a\n")
        finally:
            await context.close()


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

    sockets: list[str] = []  # the investor's WebSockets, and the events pushed over them
    pushed: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        sockets.append(socket.url)

        def on_frame(frame: str | bytes) -> None:
            bodies.append(str(frame))
            if '"type":"next"' in str(frame).replace(" ", ""):
                pushed.append(str(frame))

        socket.on("framereceived", on_frame)

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
        # The news came over the gateway's graphql-transport-ws socket: a `next` message per ledger event.
        assert set(sockets) == {platform.url("gateway").replace("http", "ws", 1) + "/graphql"}
        assert pushed

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
