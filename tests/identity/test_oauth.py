"""The authorisation server, driven by independent clients: authlib's httpx OAuth2 client obtains, refreshes,
introspects and revokes tokens; PyJWT verifies them from the published JWKS. Every refusal is an RFC 6749
error and leaves nothing issued."""

from __future__ import annotations

import asyncio
import re
import secrets
import warnings
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # authlib 1.9 nudges towards httpx2 on import; the httpx client is what its docs still show.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.directory import (
    create_machine_client,
    create_organisation,
    create_user,
    operator_headers,
    user_token,
    web_client_id,
)
from effekt.sandbox.http import new_client
from effekt.sandbox.signin import REDIRECT_URI, USER_SCOPES, authorization_code, pkce_pair


@pytest.fixture(scope="module")
def cast(shared_cast: Cast) -> Cast:
    """Every test here adds clients and tokens of its own and changes no actor: one cast serves all."""
    return shared_cast


def jwks_client(platform: Platform) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(f"{platform.url('identity')}/jwks.json", cache_keys=False, cache_jwk_set=False)


def verify(platform: Platform, token: str, *, audience: str = "effekt") -> dict[str, Any]:
    key = jwks_client(platform).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=platform.url("identity"),
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return claims


async def code_flow_client(platform: Platform, cast: Cast, *, confidential: bool = False) -> dict[str, Any]:
    """A code-flow client owned by the provider organisation (registered by the operator)."""
    body = {
        "name": "Provider portal",
        "client_type": "confidential" if confidential else "public",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": USER_SCOPES.split(),
    }
    async with new_client(base_url=platform.url("identity")) as identity:
        response = await identity.post(
            f"/v1/organisations/{cast.provider.organisation_id}/clients",
            json=body,
            headers=await operator_headers(platform),
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def sign_in(platform: Platform, actor: Actor, authorize_url: str) -> httpx.Response:
    """Follow an authorisation URL as a browser: load the page, submit the actor's credentials."""
    async with new_client() as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200, page.text
        form = {
            name: unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        }
        form.update({"email": actor.email or "", "password": actor.password or "", "decision": "allow"})
        return await browser.post(f"{platform.url('identity')}/oauth2/authorize", data=form)


async def code_tokens(
    platform: Platform, cast: Cast, client: dict[str, Any], *, nonce: str = "n-1"
) -> dict[str, Any]:
    base = platform.url("identity")
    async with AsyncOAuth2Client(
        client["client_id"],
        client.get("client_secret"),
        scope=USER_SCOPES,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if client.get("client_secret") else "none",
    ) as oauth:
        verifier, _ = pkce_pair()
        url, _state = oauth.create_authorization_url(
            f"{base}/oauth2/authorize", code_verifier=verifier, nonce=nonce
        )
        redirect = await sign_in(platform, cast.provider, url)
        assert redirect.status_code == 302, redirect.text
        token: dict[str, Any] = await oauth.fetch_token(
            f"{base}/oauth2/token",
            authorization_response=redirect.headers["location"],
            code_verifier=verifier,
        )
        return token


# --- client credentials -----------------------------------------------------------------------------------


async def test_client_credentials_token_verifies_from_the_published_jwks(
    platform: Platform, cast: Cast
) -> None:
    base = platform.url("identity")
    async with AsyncOAuth2Client(
        cast.investor_machine.client_id, cast.investor_machine.client_secret, scope="feed:read outcomes:read"
    ) as oauth:
        token = await oauth.fetch_token(f"{base}/oauth2/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert "refresh_token" not in token
    claims = verify(platform, token["access_token"])
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert claims["sub"] == cast.investor_machine.client_id
    assert claims["sub_type"] == "client"
    assert claims["org_id"] == str(cast.investor.organisation_id)
    assert claims["partner_type"] == "investor"
    assert claims["scope"] == "feed:read outcomes:read"
    assert claims["client_id"] == cast.investor_machine.client_id
    assert {"partnership_id": str(cast.partnership_id), "role": "investor"} in claims["memberships"]
    assert set(claims) == {
        "iss",
        "aud",
        "exp",
        "iat",
        "jti",
        "sub",
        "sub_type",
        "org_id",
        "partner_type",
        "scope",
        "client_id",
        "memberships",
        "epochs",
    }
    assert set(claims["epochs"]) == {"organisation", "client"}


async def _token_request(
    platform: Platform, data: dict[str, str], auth: tuple[str, str] | None = None
) -> httpx.Response:
    async with new_client(base_url=platform.url("identity")) as identity:
        if auth is None:
            return await identity.post("/oauth2/token", data=data)
        return await identity.post("/oauth2/token", data=data, auth=auth)


@pytest.mark.parametrize("scope", ["contracts:read openid", "contracts:read no-such-scope", "offline_access"])
async def test_a_scope_the_client_may_not_hold_is_refused_not_narrowed(
    platform: Platform, scope: str
) -> None:
    provider_org = (await _organisation(platform, "provider"))["id"]
    client = await create_machine_client(platform, provider_org, scopes="contracts:read")
    response = await _token_request(
        platform,
        {"grant_type": "client_credentials", "scope": scope},
        (client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    narrower = await _token_request(
        platform,
        {"grant_type": "client_credentials", "scope": "contracts:write"},
        (client["client_id"], client["client_secret"]),
    )
    assert narrower.json()["error"] == "invalid_scope"


async def test_a_wrong_client_secret_is_invalid_client(platform: Platform, cast: Cast) -> None:
    assert cast.provider_machine.client_id is not None
    response = await _token_request(
        platform, {"grant_type": "client_credentials"}, (cast.provider_machine.client_id, "not-the-secret")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


async def test_an_unsupported_grant_type_is_an_rfc6749_error(platform: Platform) -> None:
    response = await _token_request(platform, {"grant_type": "password", "username": "a", "password": "b"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


# --- authorisation code + PKCE ----------------------------------------------------------------------------


async def test_code_flow_with_pkce_issues_access_refresh_and_id_tokens(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    token = await code_tokens(platform, cast, client, nonce="nonce-42")
    access = verify(platform, token["access_token"])
    assert access["sub"] == str(cast.provider.user_id)
    assert access["sub_type"] == "user"
    assert access["org_role"] == "signatory"
    assert access["client_id"] == client["client_id"]
    assert {"partnership_id": str(cast.partnership_id), "role": "provider"} in access["memberships"]
    identity_token = verify(platform, token["id_token"], audience=client["client_id"])
    assert identity_token["sub"] == str(cast.provider.user_id)
    assert identity_token["nonce"] == "nonce-42"
    assert identity_token["email"] == cast.provider.email
    assert token["refresh_token"]

    async with new_client(base_url=platform.url("identity")) as identity:
        info = await identity.get(
            "/oauth2/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    assert info.status_code == 200
    assert info.json()["sub"] == str(cast.provider.user_id)
    assert info.json()["email"] == cast.provider.email


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    first = await code_tokens(platform, cast, client)
    base = platform.url("identity")
    async with AsyncOAuth2Client(client["client_id"], token_endpoint_auth_method="none") as oauth:
        second = await oauth.refresh_token(f"{base}/oauth2/token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert verify(platform, second["access_token"])["sub"] == str(cast.provider.user_id)

    reuse = await _token_request(
        platform,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # The thief's replay ended the grant: the legitimate, rotated token is dead too.
    after = await _token_request(
        platform,
        {
            "grant_type": "refresh_token",
            "refresh_token": second["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    assert after.json()["error"] == "invalid_grant"


async def test_concurrent_use_of_one_refresh_token_yields_exactly_one_new_token(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    first = await code_tokens(platform, cast, client)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": client["client_id"],
    }
    responses = await asyncio.gather(*(_token_request(platform, data) for _ in range(4)))
    assert sum(r.status_code == 200 for r in responses) == 1
    assert all(r.json().get("error") == "invalid_grant" for r in responses if r.status_code != 200)


async def _authorize_code(platform: Platform, cast: Cast, client: dict[str, Any], challenge: str) -> str:
    async with new_client(base_url=platform.url("identity")) as identity:
        redirect = await authorization_code(
            identity,
            client_id=client["client_id"],
            email=cast.provider.email or "",
            password=cast.provider.password or "",
            scopes=USER_SCOPES,
            challenge=challenge,
        )
    assert redirect.status_code == 302, redirect.text
    return parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]


async def test_a_reused_authorization_code_is_refused_and_revokes_what_it_issued(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    verifier, challenge = pkce_pair()
    code = await _authorize_code(platform, cast, client, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client["client_id"],
        "code_verifier": verifier,
    }
    first = await _token_request(platform, data)
    assert first.status_code == 200
    second = await _token_request(platform, data)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    refreshed = await _token_request(
        platform,
        {
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_a_pkce_verifier_mismatch_is_invalid_grant_and_the_code_stays_unused(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    verifier, challenge = pkce_pair()
    code = await _authorize_code(platform, cast, client, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client["client_id"],
        "code_verifier": pkce_pair()[0],
    }
    wrong = await _token_request(platform, data)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "access_token" not in wrong.json()
    right = await _token_request(platform, {**data, "code_verifier": verifier})
    assert right.status_code == 200


async def test_a_redirect_uri_the_client_did_not_register_is_refused_without_redirecting(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    _, challenge = pkce_pair()
    async with new_client(base_url=platform.url("identity")) as identity:
        page = await identity.get(
            "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": "https://evil.example/cb",
                "scope": "openid",
                "state": "x",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
    assert page.status_code == 400
    assert "location" not in page.headers
    assert 'data-error="invalid_request"' in page.text


async def test_a_token_request_with_a_different_redirect_uri_is_invalid_grant(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    verifier, challenge = pkce_pair()
    code = await _authorize_code(platform, cast, client, challenge)
    response = await _token_request(
        platform,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1/other",
            "client_id": client["client_id"],
            "code_verifier": verifier,
        },
    )
    assert response.json()["error"] == "invalid_grant"


async def test_an_authorisation_request_without_pkce_is_sent_back_as_invalid_request(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    async with new_client(base_url=platform.url("identity")) as identity:
        response = await identity.get(
            "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "state": "st",
            },
        )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["st"]


async def test_a_user_of_another_organisation_cannot_sign_in_through_an_organisations_client(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    _, challenge = pkce_pair()
    async with new_client(base_url=platform.url("identity")) as identity:
        redirect = await authorization_code(
            identity,
            client_id=client["client_id"],
            email=cast.investor.email or "",
            password=cast.investor.password or "",
            scopes="openid",
            challenge=challenge,
        )
    assert redirect.status_code == 302
    assert parse_qs(urlsplit(redirect.headers["location"]).query)["error"] == ["access_denied"]


async def test_the_sign_in_form_refuses_a_post_without_its_csrf_cookie(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    _, challenge = pkce_pair()
    async with new_client(base_url=platform.url("identity")) as identity:
        response = await identity.post(
            "/oauth2/authorize",
            data={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "csrf_token": "forged",
                "email": cast.provider.email,
                "password": cast.provider.password,
                "decision": "allow",
            },
        )
    assert response.status_code == 403
    assert "location" not in response.headers


async def test_repeated_wrong_passwords_lock_the_account(platform: Platform) -> None:
    organisation = await _organisation(platform, "evaluator")
    user, email, password = await create_user(platform, organisation["id"], "member", label="locked-out")
    _, challenge = pkce_pair()
    statuses = []
    async with new_client(base_url=platform.url("identity")) as identity:
        web = await web_client_id(platform)
        for _ in range(5):
            wrong = await authorization_code(
                identity,
                client_id=web,
                email=email,
                password="Wrong-Password-123",
                scopes="openid",
                challenge=challenge,
            )
            statuses.append(wrong.status_code)
        right = await authorization_code(
            identity, client_id=web, email=email, password=password, scopes="openid", challenge=challenge
        )
    assert statuses == [401] * 5
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0
    assert "location" not in right.headers
    async with new_client(base_url=platform.url("identity")) as identity:
        events = await identity.get(
            "/v1/audit-events",
            params={"entity_id": user["id"], "action": "user.locked"},
            headers=await operator_headers(platform),
        )
        # An admin's password reset unlocks the account.
        reset = await identity.put(
            f"/v1/users/{user['id']}/password",
            json={"new_password": "Fresh-Start-Password-5"},
            headers=await operator_headers(platform),
        )
    assert len(events.json()["items"]) == 1
    assert reset.status_code == 204
    assert (await user_token(platform, email, "Fresh-Start-Password-5"))["access_token"]


# --- introspection and revocation -------------------------------------------------------------------------


async def test_introspection_and_revocation_of_an_access_token(platform: Platform, cast: Cast) -> None:
    base = platform.url("identity")
    machine = cast.provider_machine
    async with AsyncOAuth2Client(machine.client_id, machine.client_secret) as oauth:
        token = await oauth.fetch_token(f"{base}/oauth2/token", grant_type="client_credentials")
        active = (
            await oauth.introspect_token(f"{base}/oauth2/introspect", token=token["access_token"])
        ).json()
        assert active["active"] is True
        assert active["sub"] == machine.client_id
        assert active["org_id"] == str(cast.provider.organisation_id)
        assert (
            await oauth.revoke_token(f"{base}/oauth2/revoke", token=token["access_token"])
        ).status_code == 200
        after = (
            await oauth.introspect_token(f"{base}/oauth2/introspect", token=token["access_token"])
        ).json()
    assert after == {"active": False}
    async with new_client(base_url=base) as identity:
        refused = await identity.get(
            "/v1/organisations", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    assert refused.status_code == 401


async def test_a_client_cannot_introspect_or_revoke_another_clients_token(
    platform: Platform, cast: Cast
) -> None:
    base = platform.url("identity")
    victim = cast.investor_machine.token
    thief = cast.provider_machine
    async with AsyncOAuth2Client(thief.client_id, thief.client_secret) as oauth:
        peek = (await oauth.introspect_token(f"{base}/oauth2/introspect", token=victim)).json()
        revoke = await oauth.revoke_token(f"{base}/oauth2/revoke", token=victim)
    assert peek == {"active": False}
    assert revoke.status_code == 400
    assert revoke.json()["error"] == "invalid_grant"
    async with new_client(base_url=base) as identity:
        still = await identity.get("/v1/organisations", headers=cast.investor_machine.headers)
    assert still.status_code == 200


async def test_revoking_a_refresh_token_ends_its_grant(platform: Platform, cast: Cast) -> None:
    client = await code_flow_client(platform, cast, confidential=True)
    token = await code_tokens(platform, cast, client)
    base = platform.url("identity")
    async with AsyncOAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        live = (
            await oauth.introspect_token(f"{base}/oauth2/introspect", token=token["refresh_token"])
        ).json()
        assert live["active"] is True
        assert live["sub"] == str(cast.provider.user_id)
        revoked = await oauth.revoke_token(f"{base}/oauth2/revoke", token=token["refresh_token"])
        assert revoked.status_code == 200
        dead = (
            await oauth.introspect_token(f"{base}/oauth2/introspect", token=token["refresh_token"])
        ).json()
    assert dead == {"active": False}
    refresh = await _token_request(
        platform,
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        (client["client_id"], client["client_secret"]),
    )
    assert refresh.json()["error"] == "invalid_grant"


# --- discovery --------------------------------------------------------------------------------------------


async def test_discovery_documents_the_endpoints_and_pkce(platform: Platform) -> None:
    base = platform.url("identity")
    async with new_client(base_url=base) as identity:
        document = (await identity.get("/.well-known/openid-configuration")).json()
        jwks = (await identity.get(document["jwks_uri"].removeprefix(base))).json()
    assert document["issuer"] == base
    assert document["token_endpoint"] == f"{base}/oauth2/token"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "client_credentials" in document["grant_types_supported"]
    assert all(key["kty"] == "RSA" and "d" not in key for key in jwks["keys"])


# --- helpers ----------------------------------------------------------------------------------------------


async def _organisation(platform: Platform, partner_type: str) -> dict[str, Any]:
    return await create_organisation(platform, partner_type, f"{partner_type} {secrets.token_hex(3)}")


async def test_denying_consent_sends_access_denied_back_with_the_state(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    _, challenge = pkce_pair()
    async with new_client(base_url=platform.url("identity")) as browser:
        page = await browser.get(
            "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "state": "keep-me",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        form = {
            name: unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        }
        denied = await browser.post("/oauth2/authorize", data={**form, "decision": "deny"})
    assert denied.status_code == 302
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["keep-me"]
    assert "code" not in query


async def test_userinfo_needs_the_openid_scope(platform: Platform, cast: Cast) -> None:
    async with new_client(base_url=platform.url("identity")) as identity:
        machine = await identity.get("/oauth2/userinfo", headers=cast.provider_machine.headers)
        anonymous = await identity.get("/oauth2/userinfo")
    assert machine.status_code == 403
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


async def test_concurrent_redemptions_of_one_code_yield_exactly_one_token(
    platform: Platform, cast: Cast
) -> None:
    client = await code_flow_client(platform, cast)
    verifier, challenge = pkce_pair()
    code = await _authorize_code(platform, cast, client, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client["client_id"],
        "code_verifier": verifier,
    }
    responses = await asyncio.gather(*(_token_request(platform, data) for _ in range(4)))
    assert sum(r.status_code == 200 for r in responses) == 1
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code != 200)
