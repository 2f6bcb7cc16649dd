"""The graph carries what pricing reads and decides: a participant's segment, a claim's facts, the band and
tier it was priced in and each cap's cut, to the partner types that see person-level data; an investor's
schema has none of the person-level ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast
from tests.gateway.support import gid, gql
from tests.outcomes.support import TODAY, active_contract
from tests.outcomes.test_rate_cards import employment_card

ENROL = """
mutation Enrol($input: EnrolParticipantInput!) {
  enrolParticipant(input: $input) {
    __typename ... on Participant { id segment } ... on MutationError { code }
  }
}
"""
CONFIRM = "mutation C($id: ID!) { confirmEligibility(participantId: $id) { __typename } }"
SUBMIT = """
mutation Submit($input: SubmitClaimInput!) {
  submitClaim(input: $input) {
    __typename
    ... on Claim { id facts band }
    ... on MutationError { code }
    ... on InvalidInput { fields { field reason } }
  }
}
"""
VERIFY = """
mutation Verify($id: ID!) {
  verifyClaim(claimId: $id, decision: VERIFIED) {
    __typename ... on Claim { band tier payable cutReasons { cap amount } split { amount } }
  }
}
"""


async def test_segment_facts_band_and_tier_travel_through_the_graph_and_never_to_investors(
    cast: Cast, contracts: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_card(cast))
    enrolment: dict[str, Any] = {
        "partnershipId": gid("Partnership", cast.partnership_id),
        "contractId": gid("Contract", contract_id),
        "cpr": synthetic_cpr(1),
        "municipalityCode": "657",
        "enrolmentDate": (TODAY - timedelta(days=30)).isoformat(),
        "segment": "esa",
    }
    enrolled = (await gql(gateway, cast.provider, ENROL, {"input": enrolment}))["data"]["enrolParticipant"]
    assert enrolled["segment"] == "esa"
    await gql(gateway, cast.payer_a, CONFIRM, {"id": enrolled["id"]})
    claim: dict[str, Any] = {
        "participantId": enrolled["id"],
        "outcomeCode": "job_start",
        "achievementDate": (TODAY - timedelta(days=2)).isoformat(),
        "evidenceReference": "eIndkomst 2026-11",
        "facts": {"hours_per_week": "6", "off_benefit": True},
    }
    refused = (await gql(gateway, cast.provider, SUBMIT, {"input": claim}))["data"]["submitClaim"]
    assert refused["__typename"] == "InvalidInput"
    assert refused["fields"][0]["field"] == "input.facts.hours_per_week"
    claim["facts"] = {"hours_per_week": "37.5", "off_benefit": True}
    made = (await gql(gateway, cast.provider, SUBMIT, {"input": claim}))["data"]["submitClaim"]
    assert made["facts"] == {"hours_per_week": "37.5", "off_benefit": True}
    priced = (await gql(gateway, cast.payer_a, VERIFY, {"id": made["id"]}))["data"]["verifyClaim"]
    assert (priced["band"], priced["tier"], priced["payable"]) == ("full_time", 0, "22000.00")
    assert sorted(x["amount"] for x in priced["split"]) == ["16500.00", "5500.00"]

    for typename in ("Claim", "Participant"):  # the types holding facts and segments
        introspected = await gql(gateway, cast.investor, f'{{ __type(name: "{typename}") {{ name }} }}')
        assert introspected["data"]["__type"] is None, typename
