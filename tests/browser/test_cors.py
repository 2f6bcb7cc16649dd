"""CORS as a browser enforces it: the registered partner UI redeems its code and calls the graph with
`fetch`; a page on a foreign origin is refused (its `fetch` rejects) by identity, the graph and the feed."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from effekt.launcher import Platform
from tests.browser.site import StaticSite, serve
from tests.browser.support import person, register_site

FETCH = """async ([url, init]) => {
  try { const r = await fetch(url, init); return `status ${r.status}`; }
  catch (error) { return `refused: ${error.name}`; }
}"""


async def test_the_registered_ui_fetches_tokens_and_the_graph_and_a_foreign_page_is_refused(
    browser: Browser, platform: Platform, site: StaticSite
) -> None:
    owner = await person(platform)
    await register_site(platform, site, owner)
    site.config["exchange"] = True
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(f"{site.origin}/")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_label("E-mail address").fill(owner.email)
        await page.get_by_label("Password").fill(owner.password)
        await page.get_by_role("button", name="Sign in and allow").click()
        await page.wait_for_url(f"{site.redirect_uri}?**")
        # The token endpoint answered the page's own fetch (CORS), so the page holds the tokens.
        await expect(page.locator("#token")).to_have_text("received")
        graph = await page.evaluate(
            """async (url) => {
              const r = await fetch(url, {method: 'POST', headers: {
                'Authorization': `Bearer ${window.tokens.access_token}`, 'Content-Type': 'application/json'},
                body: JSON.stringify({query: '{ __typename }'})});
              return (await r.json()).data.__typename;
            }""",
            f"{platform.url('gateway')}/graphql",
        )
        assert graph == "Query"

        with serve() as foreign:  # never registered
            stranger = await context.new_page()
            await stranger.goto(f"{foreign.origin}/")
            for url, init in [
                (f"{platform.url('identity')}/.well-known/openid-configuration", {}),
                (f"{platform.url('identity')}/oauth2/token", {"method": "POST", "body": "grant_type=x"}),
                (
                    f"{platform.url('gateway')}/graphql",
                    {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": "{}"},
                ),
                (f"{platform.url('outcomes')}/v1/feed", {"headers": {"Authorization": "Bearer x"}}),
            ]:
                assert await stranger.evaluate(FETCH, [url, init]) == "refused: TypeError", url
            # The same calls from the registered origin get through (an answer, whatever its status).
            for url in (f"{platform.url('outcomes')}/v1/feed", f"{platform.url('identity')}/jwks.json"):
                assert (await page.evaluate(FETCH, [url, {}])).startswith("status "), url
    finally:
        await context.close()
