"""Free text a partner types (a cohort, a reason, a description, a contract's wording, a bulk file's cells)
refuses a CPR-shaped number, in every spelling `kit.cpr` knows: a 422 problem naming the field (in GraphQL,
the input path), never echoing the value, and nothing changed. Written there, the number would be stored,
shown to other partners and exported in clear."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.directory import operator_headers
from effekt.sandbox.identifiers import synthetic_cpr
from tests.digits import written_in
from tests.gateway.support import World, build_world, gid, gql
from tests.outcomes.integrations.support import post_bulk
from tests.outcomes.support import TODAY, check, claim, decide, employment_terms, key

SPELLINGS = {
    "plain": "0101901234",
    "hyphen": "cpr 010190-1234",
    "fullwidth": written_in("fullwidth", "010190-1234"),
    "Arabic-Indic": written_in("Arabic-Indic", "0101901234"),
    "spaced": "født 01 01 90 12 34",
    "zero-width": "010190\u200b1234",
    "en dash": "010190\u20131234",
}


@pytest.fixture(scope="module")
async def world(platform: Platform, shared_cast: Cast) -> World:
    cast = shared_cast
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        return await build_world(contracts, outcomes, cast)


def refused(response: httpx.Response, field: str, value: str) -> None:
    """A 422 problem naming `field`, with the value nowhere in it."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    names = [p["name"] for p in problem["invalid_params"]]
    assert field in names, problem
    assert "CPR number" in next(p["reason"] for p in problem["invalid_params"] if p["name"] == field)
    assert value not in response.text
    assert not any(
        c.isdigit() for c in next(p["reason"] for p in problem["invalid_params"] if p["name"] == field)
    )


def _enrolment(world: World, cpr: str, **extra: Any) -> dict[str, Any]:
    return {
        "partnership_id": str(world.cast.partnership_id),
        "contract_id": str(world.contract_id),
        "cpr": cpr,
        "municipality_code": "657",
        "enrolment_date": (TODAY - timedelta(days=3)).isoformat(),
        **extra,
    }


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_an_enrolments_cohort_refuses_every_spelling_of_a_cpr_number_and_enrols_no_one(
    outcomes: httpx.AsyncClient, world: World, spelling: str
) -> None:
    value, person = SPELLINGS[spelling], synthetic_cpr(60 + list(SPELLINGS).index(spelling))
    headers = {**world.cast.provider.headers, **key()}
    response = await outcomes.post(
        "/v1/participants", json=_enrolment(world, person, cohort=value), headers=headers
    )
    refused(response, "body.cohort", value)
    # Nothing was enrolled: the same person enrols afresh (a second enrolment would be a conflict).
    check(
        await outcomes.post("/v1/participants", json=_enrolment(world, person), headers={**headers, **key()}),
        201,
    )


@pytest.mark.parametrize("field", ["municipal_reference", "segment"])
async def test_an_enrolments_other_free_text_refuses_a_cpr_number(
    outcomes: httpx.AsyncClient, world: World, field: str
) -> None:
    body = _enrolment(world, synthetic_cpr(70), **{field: SPELLINGS["hyphen"]})
    response = await outcomes.post(
        "/v1/participants", json=body, headers={**world.cast.provider.headers, **key()}
    )
    refused(response, f"body.{field}", SPELLINGS["hyphen"])


async def test_reasons_and_references_on_participants_and_claims_refuse_a_cpr_number(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    cast = world.cast
    person = world.participants["657"][1]
    value = SPELLINGS["spaced"]
    exit_ = await outcomes.post(
        f"/v1/participants/{person}/exit",
        json={"exit_date": TODAY.isoformat(), "reason": f"moved, {value}"},
        headers={**cast.provider.headers, **key()},
    )
    refused(exit_, "body.reason", value)
    still = check(await outcomes.get(f"/v1/participants/{person}", headers=cast.provider.headers), 200)
    assert still["exit_date"] is None

    evidence = await outcomes.post(
        "/v1/outcome-claims",
        json={
            "participant_id": person,
            "outcome_code": "job_start",
            "achievement_date": (TODAY - timedelta(days=2)).isoformat(),
            "evidence_reference": SPELLINGS["fullwidth"],
        },
        headers={**cast.provider.headers, **key()},
    )
    refused(evidence, "body.evidence_reference", SPELLINGS["fullwidth"])

    pending = world.claims[1]  # a Viborg resident's claim, still undecided
    rejection = await outcomes.post(
        f"/v1/outcome-claims/{pending}/verification",
        json={"decision": "rejected", "reason": SPELLINGS["zero-width"]},
        headers={**cast.payer_b.headers, **key()},
    )
    refused(rejection, "body.reason", SPELLINGS["zero-width"])
    assert (
        check(await outcomes.get(f"/v1/outcome-claims/{pending}", headers=cast.provider.headers), 200)[
            "status"
        ]
        == "claimed"
    )

    made = await claim(outcomes, cast.provider, person, "job_start", TODAY - timedelta(days=1))
    await decide(outcomes, cast.payer_a, made["id"], "rejected", reason="no payslip")
    dispute = await outcomes.post(
        f"/v1/outcome-claims/{made['id']}/dispute",
        json={"reason": SPELLINGS["Arabic-Indic"]},
        headers={**cast.provider.headers, **key()},
    )
    refused(dispute, "body.reason", SPELLINGS["Arabic-Indic"])

    webhook = await outcomes.post(
        "/v1/webhook-subscriptions",
        json={
            "partnership_id": str(cast.partnership_id),
            "url": "https://hooks.example.dk/effekt",
            "description": SPELLINGS["plain"],
        },
        headers={**cast.provider.headers, **key()},
    )
    refused(webhook, "body.description", SPELLINGS["plain"])


async def test_a_bulk_files_free_text_cells_refuse_a_cpr_number_and_its_result_does_not_echo_it(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["kind", "external_reference", "contract_id", "cpr", "municipality_code", "enrolment_date", "cohort"]
    )
    enrolled = (TODAY - timedelta(days=3)).isoformat()
    common = [str(world.contract_id)]
    writer.writerow(
        [
            "enrolment",
            f"bulk-{secrets.token_hex(4)}",
            *common,
            synthetic_cpr(80),
            "657",
            enrolled,
            SPELLINGS["hyphen"],
        ]
    )
    writer.writerow(["enrolment", SPELLINGS["plain"], *common, synthetic_cpr(81), "657", enrolled, "spring"])
    first, second = await post_bulk(outcomes, world.cast, out.getvalue(), "text/csv")
    assert (first["result"], second["result"]) == ("error", "error")
    assert first["reason"].startswith("cohort:")
    assert "CPR number" in first["reason"]
    assert second["reason"].startswith("external_reference:")
    assert second["external_reference"] is None
    assert SPELLINGS["plain"] not in str([first, second])
    assert "010190-1234" not in str([first, second])


async def test_contract_wording_and_reasons_refuse_a_cpr_number(
    contracts: httpx.AsyncClient, world: World
) -> None:
    cast = world.cast
    terms = employment_terms(cast)
    terms["title"] = f"Job First for {SPELLINGS['en dash']}"
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(cast.partnership_id), "terms": terms},
        headers={**cast.provider.headers, **key()},
    )
    assert created.status_code == 422, created.text
    assert any(p["name"].endswith("title") for p in created.json()["invalid_params"]), created.text
    assert SPELLINGS["en dash"] not in created.text

    termination = await contracts.post(
        f"/v1/contract-versions/{world.version_id}/termination",
        json={"effective_on": (TODAY + timedelta(days=30)).isoformat(), "reason": SPELLINGS["plain"]},
        headers={**cast.provider.headers, **key()},
    )
    refused(termination, "body.reason", SPELLINGS["plain"])
    version = check(
        await contracts.get(f"/v1/contract-versions/{world.version_id}", headers=cast.provider.headers), 200
    )
    assert version["status"] == "active"
    for path in ("withdrawal", "expiry"):
        response = await contracts.post(
            f"/v1/contract-versions/{world.version_id}/{path}",
            json={"reason": SPELLINGS["hyphen"]},
            headers={**cast.provider.headers, **key()},
        )
        refused(response, "body.reason", SPELLINGS["hyphen"])


async def test_identity_names_and_descriptions_refuse_a_cpr_number(
    platform: Platform, identity: httpx.AsyncClient, world: World
) -> None:
    headers = await operator_headers(platform)
    url = f"/v1/partnerships/{world.cast.partnership_id}"
    before = await identity.get(url, headers=headers)
    patched = await identity.patch(
        url,
        json={"description": f"for {SPELLINGS['spaced']}"},
        headers={**headers, **key(), "If-Match": before.headers["ETag"]},
    )
    refused(patched, "body.description", SPELLINGS["spaced"])
    assert (await identity.get(url, headers=headers)).json() == before.json()
    organisation = await identity.post(
        "/v1/organisations",
        json={"name": f"Bo {SPELLINGS['plain']}", "partner_type": "provider"},
        headers={**headers, **key()},
    )
    refused(organisation, "body.name", SPELLINGS["plain"])


ENROL = """
mutation($input: EnrolParticipantInput!) {
  enrolParticipant(input: $input) { __typename ... on InvalidInput { code fields { field reason } } }
}"""
EXIT = """
mutation($id: ID!, $reason: String!) {
  exitParticipant(participantId: $id, exitDate: "%s", reason: $reason) {
    __typename ... on InvalidInput { fields { field reason } }
  }
}"""
TERMINATE = """
mutation($id: ID!, $reason: String!) {
  terminateContractVersion(versionId: $id, effectiveOn: "%s", reason: $reason) {
    __typename ... on InvalidInput { fields { field reason } }
  }
}"""


async def test_graphql_inputs_name_the_input_path_and_never_echo_the_number(
    gateway: httpx.AsyncClient, world: World
) -> None:
    cast: Cast = world.cast
    value = SPELLINGS["fullwidth"]
    enrolment = {
        "partnershipId": gid("Partnership", cast.partnership_id),
        "contractId": gid("Contract", world.contract_id),
        "cpr": synthetic_cpr(90),
        "municipalityCode": "657",
        "enrolmentDate": (TODAY - timedelta(days=3)).isoformat(),
        "cohort": value,
    }
    calls: list[tuple[Actor, str, dict[str, Any], str]] = [
        (cast.provider, ENROL, {"input": enrolment}, "input.cohort"),
        (
            cast.provider,
            EXIT % TODAY.isoformat(),
            {"id": gid("Participant", world.participants["657"][1]), "reason": value},
            "reason",
        ),
        (
            cast.provider,
            TERMINATE % (TODAY + timedelta(days=30)).isoformat(),
            {"id": gid("ContractVersion", world.version_id), "reason": value},
            "reason",
        ),
    ]
    for actor, query, variables, path in calls:
        body = await gql(gateway, actor, query, variables)
        (result,) = body["data"].values()
        assert result["__typename"] == "InvalidInput", body
        assert [f["field"] for f in result["fields"]] == [path]
        assert "CPR number" in result["fields"][0]["reason"]
        assert value not in str(body)
