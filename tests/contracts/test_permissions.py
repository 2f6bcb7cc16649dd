"""Who may do what, role by role: members read, editors draft, signatories of parties sign, operators read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from effekt.sandbox.cast import Actor, Cast
from tests.contracts.support import assert_problem, create_contract, key, propose, read_version, terms_for

READERS = ("payer_a", "payer_b", "provider", "investor", "evaluator", "adviser", "observer", "operator")
EDITORS = ("payer_a", "payer_b", "provider", "adviser", "provider_member")
READ_ONLY = ("investor", "evaluator", "observer")


def actor(cast: Cast, name: str) -> Actor:
    found: Actor = getattr(cast, name)
    return found


@pytest.mark.parametrize("name", READERS)
async def test_members_and_operators_read_a_contract(
    contracts: httpx.AsyncClient, shared_cast: Cast, name: str
) -> None:
    draft = await create_contract(contracts, shared_cast)
    who = actor(shared_cast, name)
    assert (
        await contracts.get(f"/v1/contracts/{draft['contract_id']}", headers=who.headers)
    ).status_code == 200
    assert (
        await contracts.get(f"/v1/contract-versions/{draft['id']}", headers=who.headers)
    ).status_code == 200


async def test_an_outsider_sees_nothing_of_the_partnership(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    cast = shared_cast  # the outsider is in no partnership, so others' rows change nothing here
    draft = await create_contract(contracts, cast)
    headers = cast.outsider.headers
    assert_problem(
        await contracts.get(f"/v1/contracts/{draft['contract_id']}", headers=headers),
        404,
        "contract-not-found",
    )
    assert_problem(await contracts.get(f"/v1/contract-versions/{draft['id']}", headers=headers), 404)
    assert_problem(
        await contracts.get(f"/v1/contracts/{draft['contract_id']}/versions/in-force", headers=headers), 404
    )
    listed = await contracts.get(
        "/v1/contracts", params={"partnership_id": str(cast.partnership_id)}, headers=headers
    )
    assert listed.json()["items"] == []
    create = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(cast.partnership_id), "terms": terms_for(cast)},
        headers=headers | key(),
    )
    assert_problem(create, 403, "not-allowed")
    sign = await contracts.post(f"/v1/contract-versions/{draft['id']}/signatures", headers=headers | key())
    assert_problem(sign, 404)


async def test_requests_without_a_token_are_refused(contracts: httpx.AsyncClient) -> None:
    assert_problem(await contracts.get("/v1/contracts"), 401)
    assert_problem(await contracts.post("/v1/contracts", json={}), 401)


@pytest.mark.parametrize("name", EDITORS)
async def test_editors_draft_and_edit(contracts: httpx.AsyncClient, shared_cast: Cast, name: str) -> None:
    who = actor(shared_cast, name)
    draft = await create_contract(contracts, shared_cast, by=who)
    edited = await contracts.put(
        f"/v1/contract-versions/{draft['id']}/terms",
        json=terms_for(shared_cast, title=f"Edited by {name}"),
        headers=who.headers | {"If-Match": draft["etag"]},
    )
    assert edited.status_code == 200, edited.text


@pytest.mark.parametrize("name", [*READ_ONLY, "operator"])
async def test_readers_do_not_write(contracts: httpx.AsyncClient, shared_cast: Cast, name: str) -> None:
    who = actor(shared_cast, name)
    draft = await create_contract(contracts, shared_cast)
    body: dict[str, Any] = {
        "partnership_id": str(shared_cast.partnership_id),
        "terms": terms_for(shared_cast),
    }
    assert_problem(await contracts.post("/v1/contracts", json=body, headers=who.headers | key()), 403)
    edit = await contracts.put(
        f"/v1/contract-versions/{draft['id']}/terms",
        json=terms_for(shared_cast, title="Not mine to change"),
        headers=who.headers | {"If-Match": draft["etag"]},
    )
    assert_problem(edit, 403)
    assert_problem(
        await contracts.post(f"/v1/contract-versions/{draft['id']}/proposal", headers=who.headers | key()),
        403,
    )
    assert_problem(
        await contracts.post(f"/v1/contract-versions/{draft['id']}/withdrawal", headers=who.headers | key()),
        403,
    )
    after = await read_version(contracts, shared_cast.payer_a, draft["id"])
    assert (after["status"], after["etag"]) == ("draft", draft["etag"])


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("provider_member", "not-a-signatory"),  # a member of a party, but not a signatory
        ("provider_machine", "not-a-signatory"),  # machines never sign
        ("evaluator", "not-a-signatory"),  # a member, not a party
        ("adviser", "not-a-signatory"),
        ("operator", "not-a-signatory"),
    ],
)
async def test_only_signatories_of_required_parties_sign(
    contracts: httpx.AsyncClient, shared_cast: Cast, name: str, code: str
) -> None:
    draft = await create_contract(contracts, shared_cast)
    await propose(contracts, shared_cast.payer_a, draft["id"])
    response = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/signatures", headers=actor(shared_cast, name).headers | key()
    )
    # A machine may lack the contracts:sign scope altogether (kit's `forbidden`); either way it is a 403.
    machine = name == "provider_machine"
    assert_problem(response, 403, None if machine else code, None if machine else "org_role")
    assert (await read_version(contracts, shared_cast.payer_a, draft["id"]))["signatures"] == []


async def test_a_signatory_of_a_party_that_need_not_sign_cannot_sign(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    terms = terms_for(shared_cast)
    terms["parties"][3]["must_sign"] = False
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(shared_cast.partnership_id), "terms": terms},
        headers=shared_cast.payer_a.headers | key(),
    )
    version_id = created.json()["versions"][0]["id"]
    proposed = await propose(contracts, shared_cast.payer_a, version_id)
    assert str(shared_cast.investor.organisation_id) not in proposed["required_signatories"]
    response = await contracts.post(
        f"/v1/contract-versions/{version_id}/signatures", headers=shared_cast.investor.headers | key()
    )
    assert_problem(response, 403, "not-a-signatory", "organisation_id")
