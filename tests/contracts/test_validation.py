"""Bad input is refused with problem+json naming the field, and changes nothing."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from effekt.sandbox.cast import Cast
from tests.contracts.support import (
    activate,
    assert_problem,
    create_contract,
    key,
    propose,
    read_version,
    sign,
    terms_for,
)

Edit = Callable[[dict[str, Any]], None]


def _tariff(value: Any) -> Edit:
    def edit(terms: dict[str, Any]) -> None:
        terms["outcomes"][0]["tariff"] = value

    return edit


def _set(path: tuple[Any, ...], value: Any) -> Edit:
    def edit(terms: dict[str, Any]) -> None:
        target = terms
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return edit


def _duplicate_outcome(terms: dict[str, Any]) -> None:
    terms["outcomes"].append(copy.deepcopy(terms["outcomes"][0]))


INVALID: dict[str, tuple[Edit, str]] = {
    "negative tariff": (_tariff("-100.00"), "body.terms.outcomes.0.tariff"),
    "over-precise tariff": (_tariff("25000.005"), "body.terms.outcomes.0.tariff"),
    "tariff as a float": (_tariff(25000.5), "body.terms.outcomes.0.tariff"),
    "over-precise cap": (_set(("caps", "contract_total"), "1.234"), "body.terms.caps.contract_total"),
    "unknown currency": (_set(("currency",), "XTS"), "body.terms.currency"),
    "unknown prerequisite": (
        _set(("outcomes", 1, "prerequisites"), ["job_start", "diploma"]),
        "body.terms.outcomes.1.prerequisites.1",
    ),
    "prerequisite cycle": (
        _set(("outcomes", 0, "prerequisites"), ["employed_26w"]),
        "body.terms.outcomes.0.prerequisites",
    ),
    "end before start": (_set(("end_date",), "2026-12-31"), "body.terms.end_date"),
    "window anchor not a prerequisite": (
        _set(("outcomes", 1, "window", "anchor_outcome"), "employed_26w"),
        "body.terms.outcomes.1.window.anchor_outcome",
    ),
    "split not summing to 100": (
        _set(("payer_split", "shares", 1, "percent"), "30"),
        "body.terms.payer_split.shares",
    ),
    "duplicate outcome code": (_duplicate_outcome, "body.terms.outcomes.2.code"),
    "unknown key": (_set(("bonus",), "1"), "body.terms.bonus"),
    # PostgreSQL cannot store U+0000: refused as input, not a 500 from the database.
    "NUL in the title": (_set(("title",), "Job\u0000start"), "body.terms.title"),
    "NUL in a description": (
        _set(("outcomes", 0, "description"), "\u0000"),
        "body.terms.outcomes.0.description",
    ),
    "absurd participant cap": (_set(("max_participants",), 10**20), "body.terms.max_participants"),
    "blank title": (_set(("title",), " \t "), "body.terms.title"),
    "blank outcome name": (_set(("outcomes", 0, "name"), "   "), "body.terms.outcomes.0.name"),
    "blank eligibility criterion": (
        _set(("eligibility_criteria",), ["  "]),
        "body.terms.eligibility_criteria.0",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_invalid_terms_are_refused_naming_the_field_and_nothing_is_stored(
    contracts: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    edit, field = INVALID[case]
    terms = terms_for(shared_cast)
    edit(terms)

    async def listed() -> list[Any]:
        response = await contracts.get(
            "/v1/contracts",
            params={"partnership_id": str(shared_cast.partnership_id), "limit": 500},
            headers=shared_cast.payer_a.headers,
        )
        assert response.status_code == 200, response.text
        items: list[Any] = response.json()["items"]
        return items

    # The module's partnership holds other tests' drafts: nothing stored is the same list afterwards.
    before = await listed()
    response = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(shared_cast.partnership_id), "terms": terms},
        headers=shared_cast.payer_a.headers | key(),
    )
    assert_problem(response, 422, "validation-failed", field)
    assert await listed() == before


async def test_an_invalid_edit_leaves_the_draft_as_it_was(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    terms = terms_for(shared_cast)
    terms["outcomes"][0]["prerequisites"] = ["employed_26w"]
    response = await contracts.put(
        f"/v1/contract-versions/{draft['id']}/terms",
        json=terms,
        headers=shared_cast.adviser.headers | {"If-Match": draft["etag"]},
    )
    assert_problem(response, 422, "validation-failed", "body.outcomes.0.prerequisites")
    after = await read_version(contracts, shared_cast.payer_a, draft["id"])
    assert (after["terms"], after["etag"]) == (draft["terms"], draft["etag"])


async def test_parties_that_are_not_members_cannot_be_proposed(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    terms = terms_for(shared_cast)
    terms["parties"].append(
        {"organisation_id": str(shared_cast.outsider.organisation_id), "role": "provider", "must_sign": True}
    )
    # The investor is a member, but not in the role it is given here.
    terms["parties"][3]["role"] = "evaluator"
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(shared_cast.partnership_id), "terms": terms},
        headers=shared_cast.payer_a.headers | key(),
    )
    version_id = created.json()["versions"][0]["id"]
    response = await contracts.post(
        f"/v1/contract-versions/{version_id}/proposal", headers=shared_cast.payer_a.headers | key()
    )
    body = assert_problem(response, 422, "parties-not-members")
    assert {p["name"] for p in body["invalid_params"]} == {
        "terms.parties.3.organisation_id",
        "terms.parties.4.organisation_id",
    }
    assert (await read_version(contracts, shared_cast.payer_a, version_id))["status"] == "draft"


async def test_a_proposal_needs_an_outcome_payer_and_a_provider(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    terms = terms_for(shared_cast, payer_split=None)
    terms["parties"] = [p for p in terms["parties"] if p["role"] == "investor"]
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(shared_cast.partnership_id), "terms": terms},
        headers=shared_cast.provider.headers | key(),
    )
    assert created.status_code == 201, created.text
    version_id = created.json()["versions"][0]["id"]
    response = await contracts.post(
        f"/v1/contract-versions/{version_id}/proposal", headers=shared_cast.provider.headers | key()
    )
    body = assert_problem(response, 422, "validation-failed", "terms.parties")
    assert "outcome_payer" in body["detail"]
    assert "provider" in body["detail"]


async def test_a_proposed_version_cannot_be_edited(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    draft = await create_contract(contracts, shared_cast)
    await propose(contracts, shared_cast.payer_a, draft["id"])
    current = await read_version(contracts, shared_cast.payer_a, draft["id"])
    response = await contracts.put(
        f"/v1/contract-versions/{draft['id']}/terms",
        json=terms_for(shared_cast, title="Changed after proposal"),
        headers=shared_cast.payer_a.headers | {"If-Match": current["etag"]},
    )
    assert_problem(response, 409, "version-not-editable", "status")
    assert (await read_version(contracts, shared_cast.payer_a, draft["id"]))["terms"]["title"] == draft[
        "terms"
    ]["title"]


async def test_an_active_version_cannot_be_edited_or_proposed_again(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    active = await activate(contracts, cast)
    current = await read_version(contracts, cast.payer_a, active["id"])
    edit = await contracts.put(
        f"/v1/contract-versions/{active['id']}/terms",
        json=terms_for(cast),
        headers=cast.payer_a.headers | {"If-Match": current["etag"]},
    )
    assert_problem(edit, 409, "version-not-editable")
    again = await contracts.post(
        f"/v1/contract-versions/{active['id']}/proposal", headers=cast.payer_a.headers | key()
    )
    assert_problem(again, 409, "invalid-transition")


async def test_edits_need_a_current_if_match(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    draft = await create_contract(contracts, shared_cast)
    url = f"/v1/contract-versions/{draft['id']}/terms"
    missing = await contracts.put(
        url, json=terms_for(shared_cast, title="A"), headers=shared_cast.payer_a.headers
    )
    assert_problem(missing, 428, "if-match-required", "header.If-Match")
    ok = await contracts.put(
        url,
        json=terms_for(shared_cast, title="B"),
        headers=shared_cast.payer_a.headers | {"If-Match": draft["etag"]},
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] != draft["etag"]
    stale = await contracts.put(
        url,
        json=terms_for(shared_cast, title="C"),
        headers=shared_cast.payer_a.headers | {"If-Match": draft["etag"]},
    )
    assert_problem(stale, 412, "stale-version", "header.If-Match")
    assert (await read_version(contracts, shared_cast.payer_a, draft["id"]))["terms"]["title"] == "B"


async def test_two_concurrent_edits_of_one_draft_exactly_one_wins(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    url = f"/v1/contract-versions/{draft['id']}/terms"
    titles = [f"Edit {i}" for i in range(6)]
    responses = await asyncio.gather(
        *(
            contracts.put(
                url,
                json=terms_for(shared_cast, title=t),
                headers=shared_cast.payer_a.headers | {"If-Match": draft["etag"]},
            )
            for t in titles
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 5, [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()["terms"]["title"]
    assert (await read_version(contracts, shared_cast.payer_a, draft["id"]))["terms"]["title"] == winner


async def test_signing_twice_is_refused(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    draft = await create_contract(contracts, shared_cast)
    await propose(contracts, shared_cast.payer_a, draft["id"])
    await sign(contracts, shared_cast.provider, draft["id"])
    again = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/signatures", headers=shared_cast.provider.headers | key()
    )
    assert_problem(again, 409, "already-signed", "organisation_id")
    assert len((await read_version(contracts, shared_cast.provider, draft["id"]))["signatures"]) == 1


async def test_a_signature_names_the_hash_it_read(contracts: httpx.AsyncClient, shared_cast: Cast) -> None:
    draft = await create_contract(contracts, shared_cast)
    proposed = await propose(contracts, shared_cast.payer_a, draft["id"])
    wrong = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/signatures",
        json={"content_hash": "0" * 64},
        headers=shared_cast.payer_b.headers | key(),
    )
    assert_problem(wrong, 412, "stale-version", "body.content_hash")
    right = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/signatures",
        json={"content_hash": proposed["content_hash"]},
        headers=shared_cast.payer_b.headers | key(),
    )
    assert right.status_code == 201, right.text


async def test_overlapping_active_contracts_in_one_partnership_are_refused(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    await activate(contracts, cast)
    second = await create_contract(contracts, cast, start_date="2029-06-01", end_date="2031-12-31")
    response = await contracts.post(
        f"/v1/contract-versions/{second['id']}/proposal", headers=cast.payer_a.headers | key()
    )
    assert_problem(response, 409, "overlapping-active-period", "terms.start_date")
    assert (await read_version(contracts, cast.payer_a, second["id"]))["status"] == "draft"
    later = await create_contract(
        contracts, cast, by=cast.provider, start_date="2030-01-01", end_date="2031-12-31"
    )
    # A draft of a later period is fine alongside, but the contract already has an open version.
    assert later["status"] == "draft"


async def test_an_amendment_cannot_start_before_the_version_it_amends(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    active = await activate(contracts, cast)
    amended = await contracts.post(
        f"/v1/contracts/{active['contract_id']}/amendments",
        json={"terms": terms_for(cast, start_date="2026-06-01")},
        headers=cast.payer_a.headers | key(),
    )
    assert amended.status_code == 201
    response = await contracts.post(
        f"/v1/contract-versions/{amended.json()['id']}/proposal", headers=cast.payer_a.headers | key()
    )
    assert_problem(response, 422, "validation-failed", "terms.start_date")


async def test_one_open_amendment_at_a_time(contracts: httpx.AsyncClient, cast: Cast) -> None:
    active = await activate(contracts, cast)
    url = f"/v1/contracts/{active['contract_id']}/amendments"
    first = await contracts.post(url, headers=cast.payer_a.headers | key())
    assert first.status_code == 201
    assert_problem(
        await contracts.post(url, headers=cast.payer_b.headers | key()), 409, "open-version-exists"
    )


@pytest.mark.parametrize("reason", ["   ", "Ended\u0000early"])
async def test_a_blank_or_nul_termination_reason_is_refused_and_the_contract_stays_in_force(
    contracts: httpx.AsyncClient, cast: Cast, reason: str
) -> None:
    active = await activate(contracts, cast)
    response = await contracts.post(
        f"/v1/contract-versions/{active['id']}/termination",
        json={"effective_on": "2027-06-30", "reason": reason},
        headers=cast.payer_a.headers | key(),
    )
    assert_problem(response, 422, "validation-failed", "body.reason")
    assert (await read_version(contracts, cast.payer_a, active["id"]))["status"] == "active"


async def test_a_nul_withdrawal_reason_is_refused_and_the_proposal_stands(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    await propose(contracts, shared_cast.payer_a, draft["id"])
    response = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/withdrawal",
        json={"reason": "\u0000"},
        headers=shared_cast.payer_b.headers | key(),
    )
    assert_problem(response, 422, "validation-failed", "body.reason")
    assert (await read_version(contracts, shared_cast.payer_a, draft["id"]))["status"] == "proposed"
