"""Identity's membership rule holds through the gateway and shows in the outcome service: a payer that
tries to make itself provider is refused and still sees only its own municipality's residents; a role
reaching person-level data needs every payer's consent; removing others and changing the partnership are
the operator's, over GraphQL as over REST."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, token_for
from effekt.sandbox.directory import operator_headers
from effekt.sandbox.identifiers import synthetic_cpr
from gateway import policy
from services.identity.partnerships import access
from tests.gateway.support import gid, gql
from tests.outcomes.support import TODAY, active_contract, employment_terms, enrol

ADD = """mutation($p: ID!, $o: ID!, $r: MembershipRole!) { addMember(partnershipId: $p,
  organisationId: $o, role: $r) { __typename ... on Member { id role } ... on MutationError { code } } }"""
PROPOSE = """mutation($p: ID!, $o: ID!, $r: MembershipRole!) { proposeMember(partnershipId: $p,
  organisationId: $o, role: $r) { __typename ... on MembershipGrant { id status awaiting }
  ... on MutationError { code } } }"""
CONSENT = """mutation($p: ID!, $g: UUID!) { consentToMember(partnershipId: $p, grantId: $g) {
  __typename ... on MembershipGrant { id status membershipId } ... on MutationError { code } } }"""
REMOVE = """mutation($p: ID!, $m: UUID!) { removeMember(partnershipId: $p, membershipId: $m) {
  __typename ... on MutationError { code } } }"""


@pytest.fixture(scope="module")
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


def test_the_roles_identity_guards_are_those_that_list_person_level_rows() -> None:
    assert policy.ROWS["Participant"] == policy.ROWS["Claim"] == access.PERSON_LEVEL_ROLES


async def test_a_payer_cannot_make_itself_provider_and_still_sees_only_its_own_residents(
    platform: Platform,
    gateway: httpx.AsyncClient,
    contracts: httpx.AsyncClient,
    outcomes: httpx.AsyncClient,
    cast: Cast,
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    for index, code in enumerate(("657", "791")):
        await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(900 + index),
            municipality_code=code,
            enrolment_date=TODAY - timedelta(days=3),
        )
    variables = {
        "p": gid("Partnership", cast.partnership_id),
        "o": gid("Organisation", cast.payer_a.organisation_id),
        "r": "PROVIDER",
    }
    for mutation in (ADD, PROPOSE):
        result = (await gql(gateway, cast.payer_a, mutation, variables))["data"]
        (answer,) = result.values()
        assert answer == {"__typename": "NotPermitted", "code": "own-membership"}
    fresh = await token_for(platform, cast.payer_a)
    listed = await outcomes.get(
        "/v1/participants",
        params={"partnership_id": str(cast.partnership_id), "limit": 100},
        headers={"Authorization": f"Bearer {fresh}"},
    )
    assert listed.status_code == 200, listed.text
    assert {p["municipality_code"] for p in listed.json()["items"]} == {"657"}


async def test_an_outsider_becomes_evaluator_over_graphql_only_with_both_payers_consent(
    platform: Platform, gateway: httpx.AsyncClient, cast: Cast
) -> None:
    variables = {
        "p": gid("Partnership", cast.partnership_id),
        "o": gid("Organisation", cast.outsider.organisation_id),
        "r": "EVALUATOR",
    }
    direct = (await gql(gateway, cast.payer_a, ADD, variables))["data"]["addMember"]
    assert direct == {"__typename": "NotPermitted", "code": "consent-required"}
    grant = (await gql(gateway, cast.payer_a, PROPOSE, variables))["data"]["proposeMember"]
    assert grant["status"] == "PENDING"
    assert grant["awaiting"] == [str(cast.payer_b.organisation_id)]
    done = (await gql(gateway, cast.payer_b, CONSENT, {"p": variables["p"], "g": grant["id"]}))["data"]
    assert done["consentToMember"]["status"] == "GRANTED"
    # Only the operator removes it again.
    membership = done["consentToMember"]["membershipId"]
    for actor in (cast.payer_a, cast.payer_b, cast.provider):
        removed = (await gql(gateway, actor, REMOVE, {"p": variables["p"], "m": membership}))["data"]
        assert removed["removeMember"] == {"__typename": "NotPermitted", "code": "operator-only"}


async def test_a_payer_cannot_close_or_rename_the_partnership_over_rest_or_graphql(
    platform: Platform, gateway: httpx.AsyncClient, identity: httpx.AsyncClient, cast: Cast
) -> None:
    url = f"/v1/partnerships/{cast.partnership_id}"
    before = (await identity.get(url, headers=await operator_headers(platform))).json()
    for actor in (cast.payer_a, cast.payer_b):
        rest = await identity.patch(
            url, json={"status": "closed"}, headers={**actor.headers, "If-Match": f'"{before["version"]}"'}
        )
        assert rest.status_code == 403
        assert rest.json()["code"] == "operator-only"
        # The municipality's schema has no updatePartnership at all.
        graphql = await gql(
            gateway,
            actor,
            "mutation($p: ID!, $v: Int!) { updatePartnership(id: $p, expectedVersion: $v, status: CLOSED) "
            "{ __typename } }",
            {"p": gid("Partnership", cast.partnership_id), "v": before["version"]},
            status=400,
        )
        assert "updatePartnership" in graphql["errors"][0]["message"]
    assert (await identity.get(url, headers=await operator_headers(platform))).json() == before
