"""What the browser tests set up through identity's API: a person and a public client whose one redirect
URI is the static site's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from tests.actors import USER_SCOPES, create_organisation, create_user, operator_headers
from tests.browser.site import StaticSite

# Partner type -> the demo user whose console view the browser test checks and photographs into
# examples/partner-console/screenshots/<partner type>.png (docs/integrations/partner-ui.md shows them).
PHOTOGRAPHED = {
    "municipality": "herning",
    "provider": "provider",
    "investor": "investor",
    "evaluator": "evaluator",
}


@dataclass(frozen=True)
class Person:
    email: str
    password: str
    organisation_id: str


async def person(platform: Platform, partner_type: str = "provider") -> Person:
    organisation = await create_organisation(platform, partner_type, f"Browser {partner_type}")
    _, email, password = await create_user(platform, organisation["id"], "admin", label="browser")
    return Person(email, password, organisation["id"])


async def register_site(
    platform: Platform, site: StaticSite, owner: Person, *, name: str = "Partner console (test)"
) -> dict[str, Any]:
    """A public code-flow client for the site, and the site configured to sign in with it."""
    async with new_client(base_url=platform.url("identity")) as identity:
        response = await identity.post(
            f"/v1/organisations/{owner.organisation_id}/clients",
            headers=await operator_headers(platform),
            json={
                "name": name,
                "client_type": "public",
                "redirect_uris": [site.redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"],
                "scopes": USER_SCOPES.split(),
            },
        )
    assert response.status_code == 201, response.text
    client = dict(response.json())
    site.config.update(
        issuer=platform.url("identity"),
        clientId=client["client_id"],
        redirectUri=site.redirect_uri,
        scope="openid profile outcomes:read",
    )
    return client
