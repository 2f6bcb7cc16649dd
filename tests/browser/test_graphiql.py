"""GraphiQL in a real Chromium with every request off the machine refused: it renders from the gateway's
own files, signs in with code + PKCE against identity, sends the token, and signs out."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Browser, Route, expect

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.seed import PASSWORD
from tests.browser.conftest import Demo
from tests.browser.support import person


async def test_graphiql_opens_offline_signs_in_queries_and_signs_out(
    browser: Browser, platform: Platform
) -> None:
    owner = await person(platform, "investor")
    local = {urlsplit(platform.url(name)).netloc for name in ("gateway", "identity")}
    refused: list[str] = []

    async def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc in local:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    context = await browser.new_context(locale="en-GB")
    await context.route("**/*", offline)
    try:
        page = await context.new_page()
        await page.goto(f"{platform.url('gateway')}/graphql")
        await expect(page.locator(".graphiql-container")).to_be_visible(timeout=20000)
        await expect(page.locator("#effekt-who")).to_have_text("Not signed in")

        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{platform.url('identity')}/oauth2/authorize?**")
        await page.get_by_label("E-mail address").fill(owner.email)
        await page.get_by_label("Password").fill(owner.password)
        await page.get_by_role("button", name="Sign in and allow").click()
        await page.wait_for_url(f"{platform.url('gateway')}/graphql")
        await expect(page.locator("#effekt-who")).to_have_text(f"Signed in as investor ({owner.email})")

        await page.locator(".graphiql-execute-button").click()
        await expect(page.locator(".graphiql-response")).to_contain_text('"partnerType": "INVESTOR"')
        tokens = await page.evaluate("JSON.parse(sessionStorage.getItem('effekt.tokens'))")

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{platform.url('gateway')}/graphql")
        await expect(page.locator("#effekt-who")).to_have_text("Not signed in")
    finally:
        await context.close()
    assert refused == []
    # Signing out ended the sign-in at identity: its refresh token no longer works.
    async with new_client(base_url=platform.url("identity")) as identity:
        refreshed = await identity.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": "effekt-graphiql",
            },
        )
    assert refreshed.status_code == 400


async def test_the_demo_picker_signs_in_as_the_chosen_partner_type(
    browser: Browser, platform: Platform, demo: Demo
) -> None:
    """Under `effekt up` GraphiQL lists the seeded demo users by partner type; choosing one opens the
    sign-in page with that user's e-mail filled in, and the demo password signs in as that type."""
    investor = demo.users["investor"]
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(f"{platform.url('gateway')}/graphql")
        picker = page.get_by_label("Sign in as a demo user")
        await expect(picker).to_be_visible(timeout=20000)
        listed = await picker.locator("option").all_text_contents()
        assert {f"{user['partner_type']} ({key})" for key, user in demo.users.items()} <= set(listed)
        await picker.select_option(label="investor (investor)")
        await page.wait_for_url(f"{platform.url('identity')}/oauth2/authorize?**")
        await expect(page.get_by_label("E-mail address")).to_have_value(investor["email"])
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in and allow").click()
        await page.wait_for_url(f"{platform.url('gateway')}/graphql")
        await expect(page.locator("#effekt-who")).to_have_text(f"Signed in as investor ({investor['email']})")
    finally:
        await context.close()
