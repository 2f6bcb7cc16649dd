"""Text the database cannot store (U+0000) or a name that is only whitespace is refused as a 422 naming the
field, never a 500 from PostgreSQL nor a silent 201, and it changes nothing."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.directory import operator_headers
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import cvr as random_cvr
from tests.digits import FAMILIES, written_in

BAD_NAMES = {"NUL": "Herning\u0000Jobs", "blank": " \t "}


@pytest.fixture(scope="module")
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


@pytest.fixture
async def identity(platform: Platform) -> Any:
    async with new_client(base_url=platform.url("identity"), timeout=30.0) as client:
        yield client


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [p["name"] for p in response.json()["invalid_params"]], response.text


@pytest.mark.parametrize("kind", list(BAD_NAMES))
async def test_an_organisation_with_a_bad_name_is_refused_and_not_created(
    platform: Platform, identity: httpx.AsyncClient, kind: str
) -> None:
    headers = await operator_headers(platform)
    cvr = random_cvr()
    body = {"name": BAD_NAMES[kind], "partner_type": "evaluator", "cvr": cvr}
    assert_refused(await identity.post("/v1/organisations", json=body, headers=headers), "body.name")
    listing = await identity.get(
        "/v1/organisations", params={"limit": 500, "partner_type": "evaluator"}, headers=headers
    )
    assert cvr not in {o["cvr"] for o in listing.json()["items"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": BAD_NAMES["NUL"]}, "body.name"),
        ({"name": BAD_NAMES["blank"]}, "body.name"),
        ({"name": "Fine", "description": "NUL\u0000here"}, "body.description"),
    ],
)
async def test_a_partnership_with_bad_text_is_refused_and_not_created(
    platform: Platform, identity: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    headers = await operator_headers(platform)
    before = await identity.get("/v1/partnerships", params={"limit": 500}, headers=headers)
    assert_refused(await identity.post("/v1/partnerships", json=body, headers=headers), field)
    after = await identity.get("/v1/partnerships", params={"limit": 500}, headers=headers)
    assert after.json()["items"] == before.json()["items"]


@pytest.mark.parametrize("kind", list(BAD_NAMES))
async def test_renaming_with_a_bad_name_is_refused_and_the_name_stays(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, kind: str
) -> None:
    headers = await operator_headers(platform)
    url = f"/v1/partnerships/{cast.partnership_id}"
    before = (await identity.get(url, headers=headers)).json()
    response = await identity.patch(
        url, json={"name": BAD_NAMES[kind]}, headers=headers | {"If-Match": str(before["version"])}
    )
    assert_refused(response, "body.name")
    assert (await identity.get(url, headers=headers)).json() == before


@pytest.mark.parametrize("kind", list(BAD_NAMES))
async def test_a_user_with_a_bad_display_name_is_refused(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast, kind: str
) -> None:
    email = f"bad-name-{secrets.token_hex(4)}@example.dk"
    body = {
        "email": email,
        "display_name": BAD_NAMES[kind],
        "org_role": "member",
        "password": "Correct-Horse-Battery-9",
    }
    url = f"/v1/organisations/{cast.provider.organisation_id}/users"
    headers = await operator_headers(platform)
    assert_refused(await identity.post(url, json=body, headers=headers), "body.display_name")
    users = await identity.get(url, params={"limit": 500}, headers=headers)
    assert email not in {u["email"] for u in users.json()["items"]}


async def test_a_client_with_a_nul_in_a_redirect_uri_is_refused(
    platform: Platform, identity: httpx.AsyncClient, cast: Cast
) -> None:
    body = {
        "name": "Portal",
        "client_type": "public",
        "redirect_uris": ["https://portal.example/cb\u0000"],
        "grant_types": ["authorization_code"],
        "scopes": ["openid"],
    }
    url = f"/v1/organisations/{cast.provider.organisation_id}/clients"
    headers = await operator_headers(platform)
    before = await identity.get(url, params={"limit": 500}, headers=headers)
    assert_refused(await identity.post(url, json=body, headers=headers), "body.redirect_uris.0")
    after = await identity.get(url, params={"limit": 500}, headers=headers)
    assert after.json()["items"] == before.json()["items"]


@pytest.mark.parametrize("param", ["entity_id", "action"])
async def test_an_audit_filter_with_a_nul_is_refused_not_a_500(
    platform: Platform, identity: httpx.AsyncClient, param: str
) -> None:
    response = await identity.get(
        "/v1/audit-events", params={param: "organisation\u0000"}, headers=await operator_headers(platform)
    )
    assert_refused(response, f"query.{param}")


async def test_oauth_errors_are_documented_as_the_rfc_6749_json_they_are(identity: httpx.AsyncClient) -> None:
    response = await identity.post("/oauth2/token", data={"grant_type": "telepathy"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "error" in response.json()
    documented = (await identity.get("/openapi.json")).json()["paths"]["/oauth2/token"]["post"]["responses"]
    assert list(documented["400"]["content"]) == ["application/json"]
    page = (await identity.get("/openapi.json")).json()["paths"]["/oauth2/authorize"]["get"]["responses"]
    assert list(page["400"]["content"]) == ["text/html"]


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_cvr_or_municipality_code_in_other_digits_is_refused_and_not_created(
    platform: Platform, identity: httpx.AsyncClient, family: str
) -> None:
    headers = await operator_headers(platform)
    cvr = random_cvr()
    for body, field in [
        ({"partner_type": "evaluator", "cvr": written_in(family, cvr)}, "body.cvr"),
        (
            {"partner_type": "municipality", "cvr": cvr, "municipality_code": written_in(family, "657")},
            "body.municipality_code",
        ),
    ]:
        response = await identity.post(
            "/v1/organisations", json={"name": f"Digits {family}", **body}, headers=headers
        )
        assert_refused(response, field)
    for partner_type in ("evaluator", "municipality"):
        listing = await identity.get(
            "/v1/organisations", params={"limit": 500, "partner_type": partner_type}, headers=headers
        )
        assert cvr not in {o["cvr"] for o in listing.json()["items"]}
