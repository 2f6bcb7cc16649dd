"""Ending tokens early at identity: what supersedes an organisation's, user's or client's tokens (and what
does not), identity refusing them itself, and the revocation list the other services poll: only their
clients may read it, and an unchanged list is a 304."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, machine_actor, token_for, user_actor
from effekt.sandbox.directory import (
    add_membership,
    client_credentials_token,
    create_organisation,
    operator_headers,
    user_token,
    web_client_id,
)
from effekt.sandbox.http import new_client
from effekt.sandbox.signin import authorization_code, bearer, claims_of, pkce_pair
from kit.revocations import RevocationFeed
from kit.settings import InsecureConfiguration
from services.identity.bootstrap import check_revocation_readers
from services.identity.models import SupersededTokens
from services.identity.settings import Settings

LIST = "/v1/token-revocations"


@pytest.fixture
async def identity(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(base_url=platform.url("identity"), timeout=30.0) as client:
        yield client


async def reader_token(platform: Platform) -> str:
    """A token of one of the platform's services (the launcher makes their clients for each run)."""
    client_id, secret = next(iter(json.loads(platform.env["IDENTITY_REVOCATION_READERS"]).items()))
    token = await client_credentials_token(platform, client_id, secret)
    assert token["scope"] == "tokens:revocations"
    return str(token["access_token"])


async def revocation_list(identity: httpx.AsyncClient, platform: Platform) -> dict[str, Any]:
    response = await identity.get(LIST, headers=bearer(await reader_token(platform)))
    assert response.status_code == 200, response.text
    return dict(response.json())


def floor_of(listed: dict[str, Any], kind: str, subject: str) -> int | None:
    return next((f["epoch"] for f in listed["superseded"] if (f["kind"], f["id"]) == (kind, subject)), None)


async def still_accepted(identity: httpx.AsyncClient, token: str) -> bool:
    """Whether identity still takes the token (every partner may list the organisations it can see)."""
    response = await identity.get("/v1/organisations", headers=bearer(token))
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def newcomer(platform: Platform, cast: Cast, role: str = "evaluator") -> tuple[dict[str, Any], Actor]:
    """A new organisation with a membership in the cast's partnership, and a user of it with a token."""
    organisation = await create_organisation(platform, "evaluator", f"Newcomer {secrets.token_hex(3)}")
    await add_membership(platform, cast.partnership_id, organisation["id"], role)
    return organisation, await user_actor(platform, organisation, "admin", "newcomer-admin")


async def membership_of(identity: httpx.AsyncClient, platform: Platform, cast: Cast, org: str) -> str:
    page = await identity.get(
        "/v1/memberships",
        params={"partnership_id": str(cast.partnership_id), "organisation_id": org},
        headers=await operator_headers(platform),
    )
    (membership,) = page.json()["items"]
    return str(membership["id"])


# --- who may read the list --------------------------------------------------------------------------------


async def test_the_list_is_for_the_platforms_services_only(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    anonymous = await identity.get(LIST)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    for token in (
        shared_cast.provider.token,
        shared_cast.investor_machine.token,
        shared_cast.operator.token,
        (await operator_headers(platform))["Authorization"].removeprefix("Bearer "),
    ):
        refused = await identity.get(LIST, headers=bearer(token))
        assert refused.status_code == 403, refused.text
        assert refused.json()["required_scope"] == "tokens:revocations"
    assert set(await revocation_list(identity, platform)) == {"revoked", "sessions", "superseded"}


async def test_no_registration_and_no_partner_client_can_get_the_revocations_scope(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    registered = await identity.post(
        f"/v1/organisations/{shared_cast.operator.organisation_id}/clients",
        json={
            "name": "Wants the list",
            "client_type": "confidential",
            "grant_types": ["client_credentials"],
            "scopes": ["tokens:revocations"],
        },
        headers=await operator_headers(platform),
    )
    assert registered.status_code == 422
    assert registered.json()["code"] == "scope-not-allowed"
    machine = shared_cast.provider_machine
    asked = await identity.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "tokens:revocations"},
        auth=(machine.client_id or "", machine.client_secret or ""),
    )
    assert asked.status_code == 400
    assert asked.json()["error"] == "invalid_scope"
    discovery = (await identity.get("/.well-known/openid-configuration")).json()
    assert "tokens:revocations" not in discovery["scopes_supported"]
    assert "epochs" in discovery["claims_supported"]


async def test_an_unchanged_list_is_a_304_and_a_revocation_changes_it(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    headers = bearer(await reader_token(platform))
    first = await identity.get(LIST, headers=headers)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    unchanged = await identity.get(LIST, headers={**headers, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert (await identity.get(LIST, headers={**headers, "If-None-Match": f"W/{etag}"})).status_code == 304

    machine = shared_cast.provider_machine
    token = await token_for(platform, machine)
    revoked = await identity.post(
        "/oauth2/revoke", data={"token": token}, auth=(machine.client_id or "", machine.client_secret or "")
    )
    assert revoked.status_code == 200
    changed = await identity.get(LIST, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert claims_of(token)["jti"] in changed.json()["revoked"]


async def test_kits_feed_reads_the_list_over_http_and_revalidates_with_its_etag(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    client_id, secret = next(iter(json.loads(platform.env["IDENTITY_REVOCATION_READERS"]).items()))
    base = platform.url("identity")
    feed = RevocationFeed(
        url=f"{base}{LIST}", token_url=f"{base}/oauth2/token", client_id=client_id, client_secret=secret
    )
    machine = shared_cast.investor_machine
    token = await token_for(platform, machine)
    auth = (machine.client_id or "", machine.client_secret or "")
    assert (await identity.post("/oauth2/revoke", data={"token": token}, auth=auth)).status_code == 200
    try:
        await feed.refresh()
        parsed = feed.current
        assert claims_of(token)["jti"] in parsed.revoked
        await feed.refresh()
        assert feed.current is parsed  # a 304: nothing fetched, nothing parsed again
    finally:
        await feed.aclose()


# --- what supersedes tokens, and what does not -------------------------------------------------------------


async def test_removing_a_membership_supersedes_the_organisations_tokens_and_no_one_elses(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    organisation, member = await newcomer(platform, shared_cast)
    machine = await machine_actor(platform, organisation)
    partnership = f"/v1/partnerships/{shared_cast.partnership_id}"
    assert (await identity.get(partnership, headers=member.headers)).status_code == 200
    membership = await membership_of(identity, platform, shared_cast, organisation["id"])

    removed = await identity.delete(
        f"{partnership}/memberships/{membership}", headers=await operator_headers(platform)
    )
    assert removed.status_code == 204
    for old in (member, machine):
        refused = await identity.get(partnership, headers=old.headers)
        assert refused.status_code == 401
        assert "predates a change" in refused.json()["detail"]
    listed = await revocation_list(identity, platform)
    assert floor_of(listed, "organisation", organisation["id"]) == (
        claims_of(member.token)["epochs"]["organisation"] + 1
    )
    introspected = await identity.post(
        "/oauth2/introspect",
        data={"token": machine.token},
        auth=(machine.client_id or "", machine.client_secret or ""),
    )
    assert introspected.json() == {"active": False}

    # The organisation's memberships right after the change are listed with its floor (none are left).
    (entry,) = [f for f in listed["superseded"] if f["id"] == organisation["id"]]
    assert entry["memberships"] == []

    fresh = await token_for(platform, member)
    assert claims_of(fresh)["memberships"] == []
    assert (await identity.get(partnership, headers=bearer(fresh))).status_code == 404
    assert await still_accepted(identity, shared_cast.provider.token)
    assert (await identity.get(partnership, headers=shared_cast.evaluator.headers)).status_code == 200


async def test_an_organisations_floor_stays_listed_for_30_days_a_users_for_its_tokens_lifetime(
    platform: Platform, identity: httpx.AsyncClient
) -> None:
    """Webhook subscriptions outlive tokens and are settled from organisations' floors, so those stay."""
    now = datetime.now(UTC)
    floors = {
        ("organisation", 2): True,
        ("organisation", 31): False,
        ("user", 2): False,
    }
    subjects = {key: str(uuid.uuid4()) for key in floors}
    engine = create_async_engine(platform.database_urls["identity"])  # type: ignore[attr-defined]
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            session.add_all(
                SupersededTokens(
                    kind=kind, subject=subjects[kind, days], epoch=1, superseded_at=now - timedelta(days=days)
                )
                for kind, days in floors
            )
    finally:
        await engine.dispose()
    listed = await revocation_list(identity, platform)
    for (kind, days), expected in floors.items():
        assert (floor_of(listed, kind, subjects[kind, days]) == 1) is expected, (kind, days)


async def test_adding_a_membership_leaves_existing_tokens_working(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    organisation, member = await newcomer(platform, shared_cast)
    await add_membership(platform, shared_cast.partnership_id, organisation["id"], "observer")
    assert await still_accepted(identity, member.token)
    assert floor_of(await revocation_list(identity, platform), "organisation", organisation["id"]) is None


async def test_a_disabled_user_cannot_sign_in_refresh_or_use_its_tokens(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    organisation, admin = await newcomer(platform, shared_cast)
    colleague = await user_actor(platform, organisation, "member", "soon-gone")
    assert colleague.email
    assert colleague.password
    grant = await user_token(platform, colleague.email, colleague.password)

    outsider = await identity.delete(f"/v1/users/{colleague.user_id}", headers=shared_cast.provider.headers)
    assert outsider.status_code == 404  # another organisation's users are not even visible
    disabled = await identity.delete(f"/v1/users/{colleague.user_id}", headers=admin.headers)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"] is not None
    again = await identity.delete(f"/v1/users/{colleague.user_id}", headers=admin.headers)
    assert again.json()["disabled_at"] == disabled.json()["disabled_at"]

    assert not await still_accepted(identity, colleague.token)
    assert not await still_accepted(identity, grant["access_token"])
    refreshed = await identity.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant["refresh_token"],
            "client_id": claims_of(grant["access_token"])["client_id"],
        },
    )
    assert refreshed.status_code == 400
    sign_in = await authorization_code(
        identity,
        client_id=await web_client_id(platform),
        email=colleague.email,
        password=colleague.password,
        scopes="openid",
        challenge=pkce_pair()[1],
    )
    assert sign_in.status_code == 401
    assert "Kontoen er spærret" in sign_in.text  # Danish unless the browser asks for English
    assert 'data-error="disabled"' in sign_in.text
    assert floor_of(await revocation_list(identity, platform), "user", str(colleague.user_id)) == 1
    assert await still_accepted(identity, admin.token)  # the organisation's other users are unaffected
    events = await identity.get(
        "/v1/audit-events",
        params={"entity_id": str(colleague.user_id), "action": "user.disabled"},
        headers=await operator_headers(platform),
    )
    assert len(events.json()["items"]) == 1


async def test_a_role_change_supersedes_the_users_tokens_and_a_rename_does_not(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    _organisation, admin = await newcomer(platform, shared_cast)
    url = f"/v1/users/{admin.user_id}"
    operator = await operator_headers(platform)
    version = (await identity.get(url, headers=operator)).headers["etag"]
    renamed = await identity.patch(
        url, json={"display_name": "Still An Admin"}, headers={**operator, "If-Match": version}
    )
    assert renamed.status_code == 200
    assert await still_accepted(identity, admin.token)
    demoted = await identity.patch(
        url, json={"org_role": "member"}, headers={**operator, "If-Match": renamed.headers["etag"]}
    )
    assert demoted.status_code == 200
    assert not await still_accepted(identity, admin.token)
    fresh = await token_for(platform, admin)
    assert claims_of(fresh)["org_role"] == "member"
    assert await still_accepted(identity, fresh)


async def test_a_disabled_clients_tokens_are_superseded_and_it_gets_no_more(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    organisation = await create_organisation(platform, "provider", f"Short-lived {secrets.token_hex(3)}")
    machine = await machine_actor(platform, organisation)
    clients = await identity.get(
        f"/v1/organisations/{organisation['id']}/clients", headers=await operator_headers(platform)
    )
    (row,) = clients.json()["items"]
    disabled = await identity.delete(f"/v1/clients/{row['id']}", headers=await operator_headers(platform))
    assert disabled.status_code == 200
    assert not await still_accepted(identity, machine.token)
    again = await identity.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(machine.client_id or "", machine.client_secret or ""),
    )
    assert again.json()["error"] == "invalid_client"
    assert floor_of(await revocation_list(identity, platform), "client", row["client_id"]) == 1


async def test_a_token_issued_while_its_membership_is_removed_never_keeps_it(
    platform: Platform, identity: httpx.AsyncClient, shared_cast: Cast
) -> None:
    """Tokens minted concurrently with the removal either lack the membership or are refused: none is
    trusted with a membership its organisation no longer has."""
    organisation, _member = await newcomer(platform, shared_cast)
    machine = await machine_actor(platform, organisation)
    membership = await membership_of(identity, platform, shared_cast, organisation["id"])

    async def remove() -> None:
        await asyncio.sleep(0.05)
        response = await identity.delete(
            f"/v1/partnerships/{shared_cast.partnership_id}/memberships/{membership}",
            headers=await operator_headers(platform),
        )
        assert response.status_code == 204

    minted: list[str] = []

    async def mint() -> None:
        for _ in range(8):
            minted.append(await token_for(platform, machine))

    await asyncio.gather(remove(), *(mint() for _ in range(4)))
    for token in minted:
        carries = any(
            m["partnership_id"] == str(shared_cast.partnership_id) for m in claims_of(token)["memberships"]
        )
        if carries:
            assert not await still_accepted(identity, token)
    assert any(claims_of(t)["memberships"] for t in minted), "no token was minted before the removal"
    assert claims_of(await token_for(platform, machine))["memberships"] == []


# --- configuration ----------------------------------------------------------------------------------------


def test_production_refuses_to_start_without_revocation_readers() -> None:
    def production(readers: dict[str, str]) -> Settings:
        return Settings(
            environment="production",
            secret_key=SecretStr(secrets.token_urlsafe(48)),
            revocation_readers={k: SecretStr(v) for k, v in readers.items()},
        )

    with pytest.raises(InsecureConfiguration, match="IDENTITY_REVOCATION_READERS"):
        check_revocation_readers(production({}))
    with pytest.raises(InsecureConfiguration, match="short"):
        check_revocation_readers(production({"effekt-contracts": "short"}))
    check_revocation_readers(production({"effekt-contracts": secrets.token_urlsafe(32)}))
