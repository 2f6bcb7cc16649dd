"""Sign-in in a real Chromium, from a partner UI on another origin: the browser enforces the sign-in
page's Content-Security-Policy (httpx does not), so only a browser shows that the authorisation response
reaches the client."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from tests.browser.site import StaticSite
from tests.browser.support import person, register_site


async def test_chromium_completes_code_and_pkce_from_another_origin(
    browser: Browser, platform: Platform, site: StaticSite
) -> None:
    owner = await person(platform)
    await register_site(platform, site, owner)
    context = await browser.new_context(locale="da-DK")
    try:
        page = await context.new_page()
        await page.goto(f"{site.origin}/")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{platform.url('identity')}/oauth2/authorize?**")
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        await expect(page.locator("#client-name")).to_have_text("Partner console (test)")
        await expect(page.locator("li[data-scope='outcomes:read']")).to_contain_text("resultater")
        await page.get_by_label("E-mailadresse").fill(owner.email)
        await page.get_by_label("Adgangskode").fill(owner.password)
        await page.get_by_role("button", name="Log ind og tillad").click()
        # Blocked by `form-action 'self'`, the browser would stay on identity's page and this would time out.
        await page.wait_for_url(f"{site.redirect_uri}?**")
        code = await page.locator("#code").text_content()
        verifier = await page.evaluate("JSON.parse(sessionStorage.getItem('pkce')).verifier")
    finally:
        await context.close()
    assert code
    async with new_client(base_url=platform.url("identity")) as identity:
        token = await identity.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": site.redirect_uri,
                "client_id": site.config["clientId"],
                "code_verifier": verifier,
            },
        )
    assert token.status_code == 200, token.text
    assert token.json()["access_token"]


async def test_a_wrong_password_shows_its_error_in_the_readers_language(
    browser: Browser, platform: Platform, site: StaticSite
) -> None:
    owner = await person(platform)
    await register_site(platform, site, owner)
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(f"{site.origin}/")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{platform.url('identity')}/oauth2/authorize?**")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        # Focus starts in the e-mail field; Tab walks e-mail, password, then the two buttons.
        await expect(page.get_by_label("E-mail address")).to_be_focused()
        await page.keyboard.type(owner.email)
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Password")).to_be_focused()
        await page.keyboard.type("Not-The-Password-1")
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("button", name="Sign in and allow")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")
        assert page.url.startswith(f"{platform.url('identity')}/oauth2/authorize")
        # The address stays; the cursor waits in the password field for the next try.
        await expect(page.get_by_label("E-mail address")).to_have_value(owner.email)
        await expect(page.get_by_label("Password")).to_be_focused()
        await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    finally:
        await context.close()
