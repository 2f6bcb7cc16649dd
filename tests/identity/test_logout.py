"""RP-initiated logout: the ID token names the sign-in; signing out ends its refresh and access tokens and
returns the browser only to an address the client registered."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from effekt.launcher import Platform
from tests.actors import REDIRECT_URI, Cast, claims_of
from tests.identity.test_oauth import code_flow_client, code_tokens


@pytest.fixture(scope="module")
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


async def _signed_in(platform: Platform, cast: Cast) -> tuple[dict[str, Any], dict[str, Any]]:
    client = await code_flow_client(platform, cast)
    return client, await code_tokens(platform, cast, client)


async def test_discovery_names_the_end_session_endpoint(identity: httpx.AsyncClient) -> None:
    metadata = (await identity.get("/.well-known/openid-configuration")).json()
    assert metadata["end_session_endpoint"] == f"{metadata['issuer']}/oauth2/logout"


async def test_signing_out_ends_the_sign_ins_tokens_and_returns_with_the_state(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient
) -> None:
    client, tokens = await _signed_in(platform, cast)
    _, other = await _signed_in(platform, cast)  # another sign-in of the same person stays
    assert claims_of(tokens["id_token"])["sid"] == claims_of(tokens["access_token"])["sid"]
    answer = await identity.get(
        "/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": REDIRECT_URI,
            "state": "after-logout",
            "client_id": client["client_id"],
        },
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert parse_qs(location.query) == {"state": ["after-logout"]}

    refreshed = await identity.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    userinfo = await identity.get(
        "/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    kept = await identity.get(
        "/oauth2/userinfo", headers={"Authorization": f"Bearer {other['access_token']}"}
    )
    assert kept.status_code == 200


async def test_without_a_return_address_the_page_says_signed_out_in_the_readers_language(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient
) -> None:
    _, tokens = await _signed_in(platform, cast)
    page = await identity.post(
        "/oauth2/logout", data={"id_token_hint": tokens["id_token"]}, headers={"Accept-Language": "en"}
    )
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "You are signed out" in page.text
    refreshed = await identity.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": claims_of(tokens["id_token"])["aud"],
        },
    )
    assert refreshed.status_code == 400


@pytest.mark.parametrize("case", ["unregistered return address", "forged hint", "other client", "no hint"])
async def test_a_bad_sign_out_request_redirects_nowhere_and_ends_nothing(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient, case: str
) -> None:
    client, tokens = await _signed_in(platform, cast)
    header, payload, _ = tokens["id_token"].split(".")
    params = {
        "unregistered return address": {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
        "forged hint": {"id_token_hint": f"{header}.{payload}.AAAA"},
        "other client": {"id_token_hint": tokens["id_token"], "client_id": "someone-else"},
        "no hint": {},
    }[case]
    answer = await identity.get("/oauth2/logout", params=params)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert 'role="alert"' in answer.text
    refreshed = await identity.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    assert refreshed.status_code == 200, refreshed.text
