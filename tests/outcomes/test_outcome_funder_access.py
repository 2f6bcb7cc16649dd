"""A payer that is not a municipality (a national outcome fund) reads and verifies what it pays for, and
nothing that links a record to a person (issue 14, "payers that are not municipalities").

The fund tops up two outcomes with a price of its own (a job start: 20 000 kr from the municipality of
residence and 5 000 on top from the fund); a third outcome only the municipality pays. The fund sees the
claims of the first two and their participants — without the keyed CPR pseudonym, the free-text exit
reason, the municipal reference or the evidence document — decides the outcome whose verifiers are the
outcome payers, not the one only the evaluator verifies, and never sees the second contract's rows.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor
from effekt.sandbox.identifiers import HERNING, VIBORG, synthetic_cpr
from effekt.sandbox.terms import party, window
from effekt.sandbox.terms import v2_terms as sandbox_v2_terms
from tests.actors import Cast, add_membership, create_organisation, user_actor
from tests.gateway.support import gid, gql
from tests.outcomes.integrations.support import read_feed_page
from tests.outcomes.support import TODAY, check, claim, confirm, decide, enrol, key


def _flat(code: str, tariff: str, verifiers: list[str]) -> dict[str, Any]:
    return {"code": code, "name": code, "verifier_roles": verifiers, "window": window(), "tariff": tariff}


async def _activate(contracts: httpx.AsyncClient, cast: Cast, terms: dict[str, Any], fund: Actor) -> UUID:
    created = check(
        await contracts.post(
            "/v1/contracts",
            json={"partnership_id": str(cast.partnership_id), "terms": terms},
            headers=cast.provider.headers | key(),
        ),
        201,
    )
    version_id = created["versions"][0]["id"]
    proposed = check(
        await contracts.post(
            f"/v1/contract-versions/{version_id}/proposal", headers=cast.provider.headers | key()
        ),
        200,
    )
    for signer in (cast.payer_a, cast.payer_b, cast.provider, fund):
        signed = check(
            await contracts.post(
                f"/v1/contract-versions/{version_id}/signatures",
                json={"content_hash": proposed["content_hash"]},
                headers=signer.headers | key(),
            ),
            201,
        )
    assert signed["status"] == "active", signed
    return UUID(created["id"])


@dataclass(frozen=True)
class World:
    cast: Cast
    fund: Actor
    funded: list[dict[str, Any]]  # [job start claim, evaluator-only claim], both topped up by the fund
    unfunded: dict[str, Any]  # a claim only the municipality pays for
    people: list[str]  # the funded claims' participants; the first has exited
    unfunded_person: str  # whose only claim the fund does not pay for


@pytest.fixture(scope="module")
async def world(platform: Platform, shared_cast: Cast) -> World:
    cast = shared_cast
    contracts = httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30)
    outcomes = httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30)
    async with contracts, outcomes:
        organisation = await create_organisation(
            platform,
            "outcome_funder",
            "Udfaldsfonden",
            identifier=f"GB-GOR-EA{secrets.randbelow(9000) + 1000}",
        )
        await add_membership(platform, cast.partnership_id, organisation["id"], "outcome_payer")
        fund = await user_actor(platform, organisation, "signatory", "fund-signatory")
        a, b = str(cast.payer_a.organisation_id), str(cast.payer_b.organisation_id)
        own = [{"organisation_id": str(fund.organisation_id), "tariff": "5000.00"}]
        terms = sandbox_v2_terms(
            cast.parties,
            today=TODAY,
            outcomes=[
                _flat("job_start", "20000.00", ["outcome_payer"]) | {"payer_tariffs": own},
                _flat("qualification", "8000.00", ["evaluator"]) | {"payer_tariffs": own},
                _flat("housing", "10000.00", ["outcome_payer"]),
            ],
            caps={},
            split={
                "method": "residence",
                "municipalities": [
                    {"organisation_id": a, "municipality_code": HERNING},
                    {"organisation_id": b, "municipality_code": VIBORG},
                ],
            },
        )
        terms["parties"].append(party(fund.organisation_id, "outcome_payer"))
        contract_id = await _activate(contracts, cast, terms, fund)

        async def person(contract_id: UUID, n: int) -> str:
            made = await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(8800 + n),
                municipality_code=HERNING,
                enrolment_date=TODAY - timedelta(days=90),
                municipal_reference=f"HER-{n}",
            )
            await confirm(outcomes, cast.payer_a, made["id"])
            return str(made["id"])

        people = [await person(contract_id, n) for n in range(3)]
        document = base64.b64encode(b"%PDF-1.7 employment contract of a named person").decode()
        funded = [
            await claim(
                outcomes,
                cast.provider,
                people[0],
                "job_start",
                TODAY - timedelta(days=20),
                evidence_document_base64=document,
                evidence_media_type="application/pdf",
            ),
            await claim(outcomes, cast.provider, people[1], "qualification", TODAY - timedelta(days=10)),
        ]
        unfunded = await claim(outcomes, cast.provider, people[2], "housing", TODAY - timedelta(days=20))
        exited = await outcomes.post(
            f"/v1/participants/{people[0]}/exit",
            json={"exit_date": TODAY.isoformat(), "reason": "Moved in with family in Aarhus"},
            headers=cast.provider.headers | key() | {"If-Match": '"2"'},
        )
        assert exited.status_code == 200, exited.text
        return World(cast, fund, funded, unfunded, people[:2], people[2])


async def test_a_fund_reads_the_claims_it_pays_for_and_their_participants_without_what_links_them_to_a_person(
    world: World, outcomes: httpx.AsyncClient
) -> None:
    fund = world.fund
    listed = check(await outcomes.get("/v1/outcome-claims", params={"limit": 500}, headers=fund.headers), 200)
    assert {c["id"] for c in listed["items"]} == {c["id"] for c in world.funded}
    unfunded = await outcomes.get(f"/v1/outcome-claims/{world.unfunded['id']}", headers=fund.headers)
    assert unfunded.status_code == 404, unfunded.text
    people = check(await outcomes.get("/v1/participants", params={"limit": 500}, headers=fund.headers), 200)
    assert {p["id"] for p in people["items"]} == set(world.people)
    other = await outcomes.get(f"/v1/participants/{world.unfunded_person}", headers=fund.headers)
    assert other.status_code == 404, other.text
    exited = check(await outcomes.get(f"/v1/participants/{world.people[0]}", headers=fund.headers), 200)
    assert (exited["pseudonym"], exited["exit_reason"], exited["municipal_reference"]) == (None, None, None)
    # What checking a price takes stays: the dates, the municipality, who confirmed eligibility.
    assert exited["exit_date"] == TODAY.isoformat()
    assert exited["municipality_code"] == HERNING
    assert exited["eligibility_confirmed_by_organisation_id"] == str(world.cast.payer_a.organisation_id)
    # The provider still sees both (the rule narrows the fund only).
    mine = check(
        await outcomes.get(f"/v1/participants/{world.people[0]}", headers=world.cast.provider.headers), 200
    )
    assert mine["pseudonym"]
    assert mine["exit_reason"] == "Moved in with family in Aarhus"
    # The evidence document names the person: its reference and hash, not the document.
    first = check(
        await outcomes.get(f"/v1/outcome-claims/{world.funded[0]['id']}", headers=fund.headers), 200
    )
    assert first["evidence_sha256"]
    assert first["has_evidence_document"]
    document = await outcomes.get(
        f"/v1/outcome-claims/{world.funded[0]['id']}/evidence-document", headers=fund.headers
    )
    assert document.status_code == 403, document.text
    herning = await outcomes.get(
        f"/v1/outcome-claims/{world.funded[0]['id']}/evidence-document", headers=world.cast.payer_a.headers
    )
    assert herning.status_code == 200, herning.text


async def test_a_fund_verifies_where_the_outcome_names_payers_and_reads_its_own_statement(
    world: World, outcomes: httpx.AsyncClient
) -> None:
    """By hand: the municipality of residence pays the 20 000 kr tariff, the fund its own 5 000 on top."""
    fund, cast = world.fund, world.cast
    evaluated = world.funded[1]
    refused = await outcomes.post(
        f"/v1/outcome-claims/{evaluated['id']}/verification",
        json={"decision": "verified"},
        headers=fund.headers | key(),
    )
    assert refused.status_code == 403, refused.text
    priced = await decide(outcomes, fund, world.funded[0]["id"], "verified")
    assert priced["verifier_organisation_id"] == str(fund.organisation_id)
    assert sorted((UUID(x["payer_organisation_id"]), x["amount"]) for x in priced["split"]) == sorted(
        [(fund.organisation_id, "5000.00"), (cast.payer_a.organisation_id, "20000.00")]
    )
    statement = check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": priced["contract_id"],
                "payer_organisation_id": str(fund.organisation_id),
                "period_start": (TODAY - timedelta(days=TODAY.day - 1)).isoformat(),
                "period_end": TODAY.isoformat(),
            },
            headers=cast.provider.headers | key(),
        ),
        201,
    )
    own = check(await outcomes.get(f"/v1/payment-statements/{statement['id']}", headers=fund.headers), 200)
    assert (own["total"], [x["claim_id"] for x in own["lines"]]) == ("5000.00", [priced["id"]])


async def test_a_fund_enrols_confirms_and_exits_no_one_and_gets_no_pseudonym_in_the_feed(
    world: World, outcomes: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    fund, cast = world.fund, world.cast
    confirmed = await outcomes.post(
        f"/v1/participants/{world.people[1]}/eligibility-confirmation", headers=fund.headers | key()
    )
    assert confirmed.status_code == 403, confirmed.text
    items, _ = await read_feed_page(outcomes, fund, None, partnership=str(cast.partnership_id), limit=1000)
    assert items
    assert all("pseudonym" not in i for i in items)
    # The gateway's funder schema has the participant, not its pseudonym or exit reason.
    person = gid("Participant", world.people[0])
    seen = await gql(gateway, fund, f'{{ participant(id: "{person}") {{ uuid exitDate }} }}')
    assert seen["data"]["participant"] == {"uuid": world.people[0], "exitDate": TODAY.isoformat()}
    for field in ("pseudonym", "exitReason"):
        query = f'{{ participant(id: "{person}") {{ {field} }} }}'
        hidden = await gql(gateway, fund, query, status=400)
        assert hidden["errors"][0]["message"] == f"Cannot query field '{field}' on type 'Participant'."
