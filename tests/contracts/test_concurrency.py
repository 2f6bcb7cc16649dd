"""Racing writes on one contract: exactly one amendment opens; a retried signature replays, never repeats."""

from __future__ import annotations

import asyncio

import httpx

from effekt.sandbox.cast import Cast
from tests.contracts.support import (
    activate,
    assert_problem,
    canonical_hash,
    create_contract,
    key,
    propose,
    read_version,
    terms_for,
)


async def test_racing_amendments_open_exactly_one_draft(contracts: httpx.AsyncClient, cast: Cast) -> None:
    active = await activate(contracts, cast)
    url = f"/v1/contracts/{active['contract_id']}/amendments"
    editors = [cast.payer_a, cast.payer_b, cast.provider, cast.adviser] * 2
    responses = await asyncio.gather(*(contracts.post(url, headers=a.headers | key()) for a in editors))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 409):
        assert_problem(refused, 409, "open-version-exists")
    contract = await contracts.get(f"/v1/contracts/{active['contract_id']}", headers=cast.payer_a.headers)
    assert [(v["number"], v["status"]) for v in contract.json()["versions"]] == [(1, "active"), (2, "draft")]


async def test_a_retried_signature_replays_the_first_answer(contracts: httpx.AsyncClient, cast: Cast) -> None:
    draft = await create_contract(contracts, cast)
    await propose(contracts, cast.payer_a, draft["id"])
    headers = cast.payer_b.headers | key()
    url = f"/v1/contract-versions/{draft['id']}/signatures"
    first, retry = await contracts.post(url, headers=headers), await contracts.post(url, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert len((await read_version(contracts, cast.payer_b, draft["id"]))["signatures"]) == 1


async def test_a_proposal_racing_an_edit_freezes_a_consistent_version(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    draft = await create_contract(contracts, cast)
    edit, proposal = await asyncio.gather(
        contracts.put(
            f"/v1/contract-versions/{draft['id']}/terms",
            json=terms_for(cast, title="Edited while proposing"),
            headers=cast.adviser.headers | {"If-Match": draft["etag"]},
        ),
        contracts.post(f"/v1/contract-versions/{draft['id']}/proposal", headers=cast.payer_a.headers | key()),
    )
    assert proposal.status_code == 200, proposal.text
    assert edit.status_code in (200, 409, 412), edit.text
    version = await read_version(contracts, cast.payer_a, draft["id"])
    assert version["status"] == "proposed"
    assert version["content_hash"] == canonical_hash(version["terms"])
    assert (version["terms"]["title"] == "Edited while proposing") is (edit.status_code == 200)
