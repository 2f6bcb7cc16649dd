"""A token identity ends early stops working everywhere, not only at identity: contracts, outcomes and
the gateway refuse it once their next poll of identity's revocation list has arrived (every half second
here, see tests/platform.py), long before it would expire. Revoked, superseded by a removed membership,
a disabled user or a disabled client, or a whole sign-in ended by a replayed refresh token or a code
redeemed twice: each through the public HTTP APIs of the running platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, token_for
from effekt.sandbox.directory import operator_headers, remove_membership, user_token, web_client_id
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.signin import REDIRECT_URI, USER_SCOPES, authorization_code, bearer, claims_of, pkce_pair
from tests.gateway.support import gid
from tests.outcomes.support import TODAY, active_contract, claim, confirm, employment_terms, enrol

# Generous: the lists are polled every 0.5 s; this only bounds how long a broken build takes to fail.
DEADLINE = 20.0
PARTNERSHIP_ROWS = """query($id: ID!) { partnership(id: $id) {
  participants(first: 20) { edges { node { id } } }
  claims(first: 20) { edges { node { id uuid } } }
} }"""

Call = Callable[[str], Awaitable[httpx.Response]]


def credentials(actor: Actor) -> tuple[str, str]:
    assert actor.client_id
    assert actor.client_secret
    return actor.client_id, actor.client_secret


def reads(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> dict[str, Call]:
    """One read at each process other than identity, open to any partner in the cast's partnership."""
    partnership = {"partnership_id": str(cast.partnership_id)}

    async def at_contracts(token: str) -> httpx.Response:
        return await contracts.get("/v1/contracts", params=partnership, headers=bearer(token))

    async def at_outcomes(token: str) -> httpx.Response:
        return await outcomes.get("/v1/participants", params=partnership, headers=bearer(token))

    async def at_gateway(token: str) -> httpx.Response:
        return await gateway.post("/graphql", json={"query": "{ me { subject } }"}, headers=bearer(token))

    return {"contracts": at_contracts, "outcomes": at_outcomes, "gateway": at_gateway}


async def refused_within(call: Call, token: str) -> tuple[float, dict[str, Any]]:
    """(seconds until `call` answered 401 for the token, the problem), asking every 50 ms until DEADLINE."""
    started = time.monotonic()
    while True:
        response = await call(token)
        if response.status_code == 401:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            return time.monotonic() - started, dict(response.json())
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < DEADLINE, "still accepted long after identity ended the token"
        await asyncio.sleep(0.05)


async def refused_everywhere(calls: dict[str, Call], token: str, reason: str) -> float:
    """The longest time any process took to refuse the token; each names `reason` in its problem."""
    waits = []
    for name, call in calls.items():
        waited, problem = await refused_within(call, token)
        assert problem["code"] == "unauthorized", (name, problem)
        assert reason in problem["detail"], (name, problem)
        waits.append(waited)
    return max(waits)


async def accepted_everywhere(calls: dict[str, Call], token: str) -> None:
    for name, call in calls.items():
        response = await call(token)
        assert response.status_code == 200, (name, response.text)


@pytest.fixture
def calls(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> dict[str, Call]:
    return reads(cast, contracts, outcomes, gateway)


async def test_a_revoked_token_is_refused_everywhere_and_a_fresh_one_still_works(
    platform: Platform,
    cast: Cast,
    identity: httpx.AsyncClient,
    calls: dict[str, Call],
) -> None:
    machine = cast.provider_machine
    await accepted_everywhere(calls, machine.token)
    revoked = await identity.post("/oauth2/revoke", data={"token": machine.token}, auth=credentials(machine))
    assert revoked.status_code == 200
    await refused_everywhere(calls, machine.token, "revoked")
    await accepted_everywhere(calls, await token_for(platform, machine))
    await accepted_everywhere(calls, cast.investor_machine.token)


async def test_after_a_membership_is_removed_the_old_token_reads_no_row_of_that_partnership(
    platform: Platform,
    cast: Cast,
    identity: httpx.AsyncClient,
    contracts: httpx.AsyncClient,
    outcomes: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    participant = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(1),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=100),
    )
    await confirm(outcomes, cast.payer_a, participant["id"])
    claimed = await claim(outcomes, cast.provider, participant["id"], "job_start", TODAY - timedelta(days=50))
    partnership = {"partnership_id": str(cast.partnership_id)}
    view = {"query": PARTNERSHIP_ROWS, "variables": {"id": gid("Partnership", cast.partnership_id)}}

    async def participants(token: str) -> httpx.Response:
        return await outcomes.get("/v1/participants", params=partnership, headers=bearer(token))

    async def claims(token: str) -> httpx.Response:
        return await outcomes.get("/v1/outcome-claims", params=partnership, headers=bearer(token))

    async def through_gateway(token: str) -> httpx.Response:
        return await gateway.post("/graphql", json=view, headers=bearer(token))

    evaluator = cast.evaluator
    assert [p["id"] for p in (await participants(evaluator.token)).json()["items"]] == [participant["id"]]
    assert [c["id"] for c in (await claims(evaluator.token)).json()["items"]] == [claimed["id"]]
    seen = (await through_gateway(evaluator.token)).json()["data"]["partnership"]
    assert seen["claims"]["edges"][0]["node"]["uuid"] == claimed["id"]

    await remove_membership(platform, cast.partnership_id, evaluator.organisation_id)
    for call in (participants, claims, through_gateway):
        _, problem = await refused_within(call, evaluator.token)
        assert "predates a change to its organisation" in problem["detail"]

    # A new token no longer carries the membership, and the ordinary rules show it nothing.
    fresh = await token_for(platform, evaluator)
    assert (await participants(fresh)).json()["items"] == []
    assert (await claims(fresh)).json()["items"] == []
    assert (await through_gateway(fresh)).json()["data"]["partnership"] is None
    # Another organisation of the same partnership keeps its tokens and its rows.
    assert [p["id"] for p in (await participants(cast.provider.token)).json()["items"]] == [participant["id"]]
    still = (await through_gateway(cast.payer_a.token)).json()["data"]["partnership"]
    assert still["claims"]["edges"][0]["node"]["uuid"] == claimed["id"]


async def test_a_disabled_users_tokens_stop_working_everywhere(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient, calls: dict[str, Call]
) -> None:
    user = cast.provider_member
    await accepted_everywhere(calls, user.token)
    disabled = await identity.delete(f"/v1/users/{user.user_id}", headers=await operator_headers(platform))
    assert disabled.status_code == 200
    await refused_everywhere(calls, user.token, "predates a change to its user")
    await accepted_everywhere(calls, cast.provider.token)  # a colleague in the same organisation


async def test_a_disabled_clients_tokens_stop_working_everywhere(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient, calls: dict[str, Call]
) -> None:
    machine = cast.investor_machine
    await accepted_everywhere(calls, machine.token)
    listed = await identity.get(
        f"/v1/organisations/{machine.organisation_id}/clients", headers=await operator_headers(platform)
    )
    (row,) = [c for c in listed.json()["items"] if c["client_id"] == machine.client_id]
    disabled = await identity.delete(f"/v1/clients/{row['id']}", headers=await operator_headers(platform))
    assert disabled.status_code == 200
    await refused_everywhere(calls, machine.token, "predates a change to its client")
    await accepted_everywhere(calls, cast.investor.token)  # the organisation's people are unaffected


# --- ending a whole sign-in -------------------------------------------------------------------------------


async def refused_at_identity(identity: httpx.AsyncClient, token: str) -> None:
    """Identity reads its own tables: it refuses at once, with no wait for a poll."""
    response = await identity.get("/v1/organisations", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert "revoked" in response.json()["detail"]


async def test_a_replayed_refresh_token_ends_every_access_token_of_its_sign_in(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient, calls: dict[str, Call]
) -> None:
    user = cast.provider
    assert user.email
    assert user.password
    first = await user_token(platform, user.email, user.password)
    web = await web_client_id(platform)
    rotated = await identity.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": web},
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert claims_of(second["access_token"])["sid"] == claims_of(first["access_token"])["sid"]
    await accepted_everywhere(calls, second["access_token"])

    replayed = await identity.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": web},
    )
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"]):
        await refused_at_identity(identity, token)
    waited = await refused_everywhere(calls, second["access_token"], "revoked with its sign-in")
    assert waited < 5.0
    # The user is not locked out: a new sign-in works everywhere, and so do the user's other sign-ins.
    await accepted_everywhere(calls, await token_for(platform, user))
    await accepted_everywhere(calls, user.token)


async def test_a_code_redeemed_twice_ends_the_access_token_its_first_redemption_issued(
    platform: Platform, cast: Cast, identity: httpx.AsyncClient, calls: dict[str, Call]
) -> None:
    user = cast.provider
    assert user.email
    assert user.password
    web = await web_client_id(platform)
    verifier, challenge = pkce_pair()
    redirect = await authorization_code(
        identity,
        client_id=web,
        email=user.email,
        password=user.password,
        scopes=USER_SCOPES,
        challenge=challenge,
    )
    assert redirect.status_code == 302, redirect.text
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": web,
        "code_verifier": verifier,
    }
    issued = await identity.post("/oauth2/token", data=redeem)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    await accepted_everywhere(calls, token)

    again = await identity.post("/oauth2/token", data=redeem)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    await refused_at_identity(identity, token)
    waited = await refused_everywhere(calls, token, "revoked with its sign-in")
    assert waited < 5.0
    refreshed = await identity.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued.json()["refresh_token"],
            "client_id": web,
        },
    )
    assert refreshed.status_code == 400
