"""Mutations return typed results: the success type, or an error type carrying the service's code (and
the fields at fault), never an opaque string. Retries with the same idempotency key write once."""

from __future__ import annotations

import secrets
from datetime import timedelta
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.directory import operator_headers
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.gateway.support import gid, gql
from tests.outcomes.support import TODAY, active_contract, employment_terms


@pytest.fixture(scope="module")
async def signed(platform: Platform, shared_cast: Cast) -> tuple[Cast, UUID]:
    cast = shared_cast
    async with new_client(base_url=platform.url("contracts"), timeout=30) as contracts:
        contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    return cast, contract_id


ENROL = """
mutation Enrol($input: EnrolParticipantInput!, $key: String) {
  enrolParticipant(input: $input, idempotencyKey: $key) {
    __typename
    ... on Participant { id pseudonym municipalityCode version }
    ... on MutationError { code message }
    ... on InvalidInput { fields { field reason } }
  }
}
"""
CONFIRM = """
mutation Confirm($id: ID!, $version: Int) {
  confirmEligibility(participantId: $id, expectedVersion: $version) {
    __typename
    ... on Participant { id eligibilityConfirmedAt version }
    ... on MutationError { code message }
  }
}
"""


def _enrolment(cast: Cast, contract_id: UUID, cpr: str, code: str = "657") -> dict[str, object]:
    return {
        "partnershipId": gid("Partnership", cast.partnership_id),
        "contractId": gid("Contract", contract_id),
        "cpr": cpr,
        "municipalityCode": code,
        "enrolmentDate": (TODAY - timedelta(days=5)).isoformat(),
    }


async def test_enrolment_returns_the_participant_and_a_retry_replays_it(
    gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, contract_id = signed
    variables = {"input": _enrolment(cast, contract_id, synthetic_cpr(1)), "key": secrets.token_hex(8)}
    first = (await gql(gateway, cast.provider, ENROL, variables))["data"]["enrolParticipant"]
    assert first["__typename"] == "Participant", first
    assert first["municipalityCode"] == "657"
    again = (await gql(gateway, cast.provider, ENROL, variables))["data"]["enrolParticipant"]
    assert again == first


async def test_an_invalid_cpr_number_is_an_invalid_input_naming_the_field(
    gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, contract_id = signed
    variables = {"input": _enrolment(cast, contract_id, "3213990000")}
    result = (await gql(gateway, cast.provider, ENROL, variables))["data"]["enrolParticipant"]
    assert result["__typename"] == "InvalidInput", result
    assert [f["field"] for f in result["fields"]] == ["input.cpr"]
    assert "3213990000" not in str(result)  # the number is never echoed


async def test_a_malformed_municipality_code_names_the_graphql_input_field(
    gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, contract_id = signed
    variables = {"input": _enrolment(cast, contract_id, synthetic_cpr(3), code="65")}
    result = (await gql(gateway, cast.provider, ENROL, variables))["data"]["enrolParticipant"]
    assert result["__typename"] == "InvalidInput", result
    # The service said `body.municipality_code`; the client sent `input.municipalityCode`.
    assert [f["field"] for f in result["fields"]] == ["input.municipalityCode"]


async def test_a_stale_version_is_a_conflict_and_the_current_one_succeeds(
    gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, contract_id = signed
    enrolled = (
        await gql(gateway, cast.provider, ENROL, {"input": _enrolment(cast, contract_id, synthetic_cpr(2))})
    )["data"]["enrolParticipant"]
    stale = (await gql(gateway, cast.payer_a, CONFIRM, {"id": enrolled["id"], "version": 99}))["data"]
    assert stale["confirmEligibility"]["__typename"] == "Conflict", stale
    fresh = (
        await gql(gateway, cast.payer_a, CONFIRM, {"id": enrolled["id"], "version": enrolled["version"]})
    )["data"]["confirmEligibility"]
    assert fresh["__typename"] == "Participant", fresh
    assert fresh["eligibilityConfirmedAt"]


async def test_a_payer_of_another_municipality_is_not_permitted(
    gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, contract_id = signed
    enrolled = (
        await gql(gateway, cast.provider, ENROL, {"input": _enrolment(cast, contract_id, synthetic_cpr(3))})
    )["data"]["enrolParticipant"]
    result = (await gql(gateway, cast.payer_b, CONFIRM, {"id": enrolled["id"]}))["data"]["confirmEligibility"]
    assert result["__typename"] in ("NotPermitted", "NotFound"), result


async def test_an_amendment_signed_over_the_wrong_hash_is_a_typed_error(
    gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, contract_id = signed
    amended = await gql(
        gateway,
        cast.provider,
        """mutation($c: ID!) { amendContract(contractId: $c) {
             __typename ... on ContractVersion { id status number } ... on MutationError { code } } }""",
        {"c": gid("Contract", contract_id)},
    )
    draft = amended["data"]["amendContract"]
    assert draft["__typename"] == "ContractVersion", draft
    assert (draft["status"], draft["number"]) == ("DRAFT", 2)
    version_id = draft["id"]
    proposed = await gql(
        gateway,
        cast.provider,
        "mutation($v: ID!) { proposeContractVersion(versionId: $v) { __typename"
        " ... on ContractVersion { status contentHash } ... on MutationError { code } } }",
        {"v": version_id},
    )
    assert proposed["data"]["proposeContractVersion"].get("status") == "PROPOSED", proposed
    wrong = await gql(
        gateway,
        cast.payer_a,
        "mutation($v: ID!, $h: String) { signContractVersion(versionId: $v, contentHash: $h) { __typename"
        " ... on MutationError { code message } } }",
        {"v": version_id, "h": "0" * 64},
    )
    result = wrong["data"]["signContractVersion"]
    assert result["__typename"] in ("Conflict", "RuleViolation", "InvalidInput"), result
    assert result["code"]


async def test_an_operator_creates_a_partnership_and_a_provider_cannot_see_the_mutation(
    platform: Platform, gateway: httpx.AsyncClient, signed: tuple[Cast, UUID]
) -> None:
    cast, _ = signed
    create = """mutation($n: String!) { createPartnership(name: $n) {
        __typename ... on Partnership { id name status } ... on MutationError { code } } }"""
    name = f"Partnership {secrets.token_hex(3)}"
    operator = type(cast.operator)(
        organisation_id=cast.operator.organisation_id,
        partner_type="operator",
        token=(await operator_headers(platform))["Authorization"].removeprefix("Bearer "),
    )
    created = (await gql(gateway, operator, create, {"n": name}))["data"]["createPartnership"]
    assert created == {"__typename": "Partnership", "id": created["id"], "name": name, "status": "ACTIVE"}
    refused = await gql(gateway, cast.provider, create, {"n": name}, status=400)
    assert "createPartnership" in refused["errors"][0]["message"]
