"""Who binds whom (issue 13): a payer is never bound without its own signature, an amendment needs every
signatory of the version it supersedes, only a party that signed may end a version (alone only where the
terms say so, with notice), and the registry accepts no amount the outcome service cannot store."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from effekt.sandbox.cast import Actor, Cast
from tests.contracts.support import (
    activate,
    assert_problem,
    create_contract,
    key,
    propose,
    read_version,
    sign,
    signers,
    terms_for,
)


async def _create(contracts: httpx.AsyncClient, cast: Cast, terms: dict[str, Any]) -> httpx.Response:
    return await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(cast.partnership_id), "terms": terms},
        headers=cast.provider.headers | key(),
    )


async def _terminate(
    contracts: httpx.AsyncClient, who: Actor, version_id: str, on: str, reason: str = "Programme ends"
) -> httpx.Response:
    return await contracts.post(
        f"/v1/contract-versions/{version_id}/termination",
        json={"effective_on": on, "reason": reason},
        headers=who.headers | key(),
    )


async def _in_force(contracts: httpx.AsyncClient, cast: Cast, contract_id: str, on: str) -> httpx.Response:
    return await contracts.get(
        f"/v1/contracts/{contract_id}/versions/in-force", params={"on": on}, headers=cast.payer_a.headers
    )


# --- who must sign ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2])  # payer_a, payer_b (in the split), provider
async def test_a_payer_or_provider_that_need_not_sign_is_refused(
    contracts: httpx.AsyncClient, shared_cast: Cast, index: int
) -> None:
    terms = terms_for(shared_cast)
    terms["parties"][index]["must_sign"] = False
    assert_problem(
        await _create(contracts, shared_cast, terms),
        422,
        "validation-failed",
        f"body.terms.parties.{index}.must_sign",
    )


async def test_the_provider_cannot_amend_a_signed_contract_into_one_only_it_signs(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    first = await activate(contracts, cast)
    terms = copy.deepcopy(first["terms"])
    terms["outcomes"][0]["tariff"] = "250000.00"  # tariff x10
    terms["caps"]["per_participant"] = "650000.00"
    for party in terms["parties"]:
        party["must_sign"] = party["role"] == "provider"
    amended = await contracts.post(
        f"/v1/contracts/{first['contract_id']}/amendments",
        json={"terms": terms},
        headers=cast.provider.headers | key(),
    )
    assert_problem(amended, 422, "validation-failed", "body.terms.parties.0.must_sign")
    assert (await read_version(contracts, cast.payer_a, first["id"]))["status"] == "active"


async def test_the_adviser_cannot_list_itself_as_the_only_signer(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    terms = terms_for(shared_cast)
    for party in terms["parties"]:
        party["must_sign"] = False
    terms["parties"].append({"organisation_id": str(shared_cast.adviser.organisation_id), "role": "adviser"})
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(shared_cast.partnership_id), "terms": terms},
        headers=shared_cast.adviser.headers | key(),
    )
    body = assert_problem(created, 422, "validation-failed")
    names = {p["name"] for p in body["invalid_params"]}
    assert {"body.terms.parties.0.must_sign", "body.terms.parties.2.must_sign"} <= names


async def test_an_amendment_activates_only_with_every_signatory_of_the_version_it_supersedes(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    first = await activate(contracts, cast)
    terms = copy.deepcopy(first["terms"])
    terms["outcomes"][0]["tariff"] = "30000.00"
    terms["parties"] = [p for p in terms["parties"] if p["role"] != "investor"]  # drop the investor
    amended = await contracts.post(
        f"/v1/contracts/{first['contract_id']}/amendments",
        json={"terms": terms},
        headers=cast.provider.headers | key(),
    )
    assert amended.status_code == 201, amended.text
    second = amended.json()["id"]
    proposed = await propose(contracts, cast.adviser, second)
    investor = str(cast.investor.organisation_id)
    assert proposed["supersedes_id"] == first["id"]
    assert investor in proposed["required_signatories"]
    for actor in (cast.payer_a, cast.payer_b, cast.provider):
        version = await sign(contracts, actor, second)
    # The investor signed version 1 and has not signed its replacement: version 1 still governs.
    assert (version["status"], version["pending_signatories"]) == ("proposed", [investor])
    assert (await read_version(contracts, cast.payer_a, first["id"]))["status"] == "active"
    version = await sign(contracts, cast.investor, second)
    assert version["status"] == "active"
    assert (await read_version(contracts, cast.payer_a, first["id"]))["status"] == "superseded"


# --- who may end a contract ------------------------------------------------------------------------------


async def test_an_adviser_who_never_signed_cannot_terminate(contracts: httpx.AsyncClient, cast: Cast) -> None:
    active = await activate(contracts, cast)
    refused = await _terminate(contracts, cast.adviser, active["id"], "2028-01-01")
    # The demo adviser is a member, not a signatory; either way it never signed, so it is a 403.
    assert_problem(refused, 403)
    assert (await read_version(contracts, cast.payer_a, active["id"]))["status"] == "active"
    assert (await _in_force(contracts, cast, active["contract_id"], "2028-06-01")).json()["id"] == active[
        "id"
    ]


async def test_without_a_unilateral_right_termination_takes_every_signing_party(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    active = await activate(contracts, cast)
    first = await _terminate(contracts, cast.provider, active["id"], "2028-07-01", "We stop the programme")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "active"
    assert [c["organisation_id"] for c in body["termination_consents"]] == [
        str(cast.provider.organisation_id)
    ]
    assert sorted(body["pending_termination_consents"]) == sorted(
        str(a.organisation_id) for a in signers(cast) if a is not cast.provider
    )
    assert (await _in_force(contracts, cast, active["contract_id"], "2028-08-01")).json()["id"] == active[
        "id"
    ]

    again = await _terminate(contracts, cast.provider, active["id"], "2028-07-01")
    assert again.status_code == 200
    assert len(again.json()["termination_consents"]) == 1  # idempotent
    other_date = await _terminate(contracts, cast.payer_a, active["id"], "2028-09-01")
    assert_problem(other_date, 409, "termination-pending", "body.effective_on")

    for actor in (cast.payer_a, cast.payer_b):
        still = await _terminate(contracts, actor, active["id"], "2028-07-01")
        assert still.json()["status"] == "active"
    last = await _terminate(contracts, cast.investor, active["id"], "2028-07-01")
    assert last.status_code == 200, last.text
    ended = last.json()
    assert (ended["status"], ended["terminated_on"], ended["end_reason"]) == (
        "terminated",
        "2028-07-01",
        "We stop the programme",
    )
    assert ended["pending_termination_consents"] == []
    assert_problem(await _in_force(contracts, cast, active["contract_id"], "2028-07-01"), 404)


async def test_a_unilateral_right_in_the_terms_ends_the_contract_no_earlier_than_its_notice(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    today = datetime.now(UTC).date()
    active = await activate(
        contracts,
        cast,
        start_date=(today - timedelta(days=30)).isoformat(),
        end_date=(today + timedelta(days=3 * 365)).isoformat(),
        termination={"unilateral_roles": ["outcome_payer"], "notice_days": 90},
    )
    early = (today + timedelta(days=60)).isoformat()
    on_notice = (today + timedelta(days=90)).isoformat()
    # The provider has no unilateral right: its termination is a consent awaiting the others.
    provider = await _terminate(contracts, cast.provider, active["id"], on_notice)
    assert provider.json()["status"] == "active"
    short = await _terminate(contracts, cast.payer_b, active["id"], early)
    body = assert_problem(short, 422, "notice-too-short", "body.effective_on")
    assert body["earliest_effective_on"] == on_notice
    ended = await _terminate(contracts, cast.payer_b, active["id"], on_notice, "Budget withdrawn")
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["terminated_on"]) == ("terminated", on_notice)
    consent = next(
        c
        for c in ended.json()["termination_consents"]
        if c["organisation_id"] == str(cast.payer_b.organisation_id)
    )
    assert (consent["unilateral"], consent["user_id"]) == (True, str(cast.payer_b.user_id))


@pytest.mark.parametrize(
    ("termination", "field"),
    [
        ({"notice_days": 30}, "body.terms.termination"),
        ({"unilateral_roles": ["adviser"], "notice_days": 30}, "body.terms.termination.unilateral_roles.0"),
        ({"unilateral_organisations": ["00000000-0000-4000-8000-000000000000"], "notice_days": 30},
         "body.terms.termination.unilateral_organisations.0"),
        ({"unilateral_roles": ["provider"], "notice_days": -1}, "body.terms.termination.notice_days"),
    ],
)  # fmt: skip
async def test_a_termination_block_must_name_signing_parties_and_a_notice(
    contracts: httpx.AsyncClient, shared_cast: Cast, termination: dict[str, Any], field: str
) -> None:
    assert_problem(
        await _create(contracts, shared_cast, terms_for(shared_cast, termination=termination)),
        422,
        field=field,
    )


# --- amounts the outcome service can store ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # NUMERIC(18, 3): fifteen digits before the point.
        ({"tariff": "1000000000000000.00"}, "body.terms.outcomes.0.tariff"),
        ({"caps": {"per_participant": None, "contract_total": "1000000000000000.00", "per_period": None}},
         "body.terms.caps.contract_total"),
        ({"caps": {"per_participant": None, "contract_total": None, "per_period": "1000000000000000.00"}},
         "body.terms.caps.per_period"),
        # Each tariff fits, but what the contract can pay in all (the sum the cap check keeps) does not.
        ({"tariff": "999999999999999.00", "caps": {"per_participant": None, "contract_total": None,
                                                    "per_period": None}}, "body.terms.caps.contract_total"),
        # Four decimals (a unit of account, Chile's UF): more than the outcome service stores.
        ({"currency": "CLF"}, "body.terms.currency"),
    ],
)  # fmt: skip
async def test_amounts_the_outcome_service_cannot_store_are_refused(
    contracts: httpx.AsyncClient, shared_cast: Cast, change: dict[str, Any], field: str
) -> None:
    terms = terms_for(shared_cast)
    if "tariff" in change:
        terms["outcomes"][0]["tariff"] = change.pop("tariff")
    terms.update(change)
    assert_problem(await _create(contracts, shared_cast, terms), 422, "validation-failed", field)


async def test_a_draft_never_proposed_can_be_withdrawn(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    withdrawn = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/withdrawal",
        json={"reason": "Started over"},
        headers=shared_cast.adviser.headers | key(),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["status"], withdrawn.json()["end_reason"]) == ("withdrawn", "Started over")
    assert withdrawn.json()["terms"] == draft["terms"]
    redraft = await contracts.post(
        f"/v1/contracts/{draft['contract_id']}/amendments", headers=shared_cast.adviser.headers | key()
    )
    assert redraft.status_code == 201, redraft.text
