"""A payer that is not a municipality, end to end: a national outcome fund identified outside the CVR
register joins a partnership as outcome payer, sees the payer's schema in the gateway (without what comes
of having residents), and signs a version-2 contract in which it pays a fixed share, a top-up of its own
and at most its own maximum; the contract activates with its signature."""

from __future__ import annotations

from uuid import UUID

import httpx

from effekt.launcher import Platform
from tests.actors import Cast, add_membership, create_organisation, user_actor
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import key, propose, sign
from tests.gateway.support import gql

ME = "{ me { partnerType organisation { identifier cvr partnerType municipalityCode } } }"
MUTATIONS = '{ __type(name: "Mutation") { fields { name } } }'


async def test_an_outcome_fund_joins_as_payer_and_signs_a_contract(
    platform: Platform, contracts: httpx.AsyncClient, gateway: httpx.AsyncClient, cast: Cast
) -> None:
    fund_org = await create_organisation(
        platform, "outcome_funder", "Life Chances Outcomes Fund", identifier="GB-GOR-EA1234"
    )
    await add_membership(platform, cast.partnership_id, fund_org["id"], "outcome_payer")
    fund = await user_actor(platform, fund_org, "signatory", "fund-signatory")

    me = await gql(gateway, fund, ME)
    assert me["data"]["me"] == {
        "partnerType": "OUTCOME_FUNDER",
        "organisation": {
            "identifier": "GB-GOR-EA1234",
            "cvr": None,
            "partnerType": "OUTCOME_FUNDER",
            "municipalityCode": None,
        },
    }
    mutations = {f["name"] for f in (await gql(gateway, fund, MUTATIONS))["data"]["__type"]["fields"]}
    # The payer's actions: sign, verify, mark paid; not a municipality's residents' (enrol, eligibility).
    assert {"signContractVersion", "verifyClaim", "markStatementPaid", "addMember"} <= mutations
    assert not {"confirmEligibility", "enrolParticipant"} & mutations

    created = await contracts.post(
        "/v1/contracts",
        json={
            "partnership_id": str(cast.partnership_id),
            "terms": employment_rate_card(cast, fund.organisation_id),
        },
        headers=cast.provider.headers | key(),
    )
    assert created.status_code == 201, created.text
    version_id = created.json()["versions"][0]["id"]
    proposed = await propose(contracts, cast.provider, version_id)
    assert fund.organisation_id in set(map(UUID, proposed["required_signatories"]))
    version: dict[str, object] = {}
    for actor in (cast.payer_a, cast.payer_b, cast.provider, cast.investor):
        version = await sign(contracts, actor, version_id)
        assert version["status"] == "proposed", version
    version = await sign(contracts, fund, version_id)
    assert version["status"] == "active", version
