"""A contract's life through the HTTP API: draft, proposal, signatures, activation, amendment, end."""

from __future__ import annotations

import asyncio
import copy
import hashlib

import asyncpg
import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from tests.contracts.support import (
    activate,
    assert_problem,
    canonical_hash,
    create_contract,
    key,
    propose,
    read_version,
    sign,
    signers,
    terms_for,
)


async def test_three_party_contract_goes_from_draft_through_signatures_to_active(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    draft = await create_contract(contracts, cast)
    assert draft["status"] == "draft"
    assert draft["number"] == 1
    assert draft["content_hash"] is None
    assert draft["partnership_id"] == str(cast.partnership_id)

    proposed = await propose(contracts, cast.provider, draft["id"])
    assert proposed["status"] == "proposed"
    assert proposed["content_hash"] == canonical_hash(proposed["terms"])
    assert sorted(proposed["pending_signatories"]) == sorted(str(a.organisation_id) for a in signers(cast))

    for i, actor in enumerate(signers(cast)):
        version = await sign(contracts, actor, draft["id"])
        assert version["status"] == ("active" if i == 3 else "proposed")
    assert version["pending_signatories"] == []
    assert version["activated_at"] is not None
    signed = {s["organisation_id"]: s for s in version["signatures"]}
    assert set(signed) == {str(a.organisation_id) for a in signers(cast)}
    for actor in signers(cast):
        signature = signed[str(actor.organisation_id)]
        assert signature["user_id"] == str(actor.user_id)
        assert signature["content_hash"] == proposed["content_hash"]
        assert signature["valid"] is True

    in_force = await contracts.get(
        f"/v1/contracts/{draft['contract_id']}/versions/in-force",
        params={"on": "2027-06-01"},
        headers=cast.investor.headers,
    )
    assert in_force.status_code == 200, in_force.text
    assert in_force.json()["id"] == draft["id"]


async def test_amendment_changes_a_tariff_and_supersedes_from_its_start_date(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    first = await activate(contracts, cast)
    contract_id = first["contract_id"]
    terms = copy.deepcopy(first["terms"])
    terms["outcomes"][0]["tariff"] = "27500.00"
    terms["start_date"] = "2028-01-01"
    amended = await contracts.post(
        f"/v1/contracts/{contract_id}/amendments", json={"terms": terms}, headers=cast.payer_b.headers | key()
    )
    assert amended.status_code == 201, amended.text
    second = amended.json()
    assert (second["number"], second["status"], second["derived_from_id"]) == (2, "draft", first["id"])

    diff = await contracts.get(
        f"/v1/contract-versions/{second['id']}/diff",
        params={"from": first["id"]},
        headers=cast.evaluator.headers,
    )
    assert diff.status_code == 200, diff.text
    changed = {c["path"]: (c["from"], c["to"]) for c in diff.json()["changed"]}
    assert changed == {
        "outcomes.job_start.tariff": ("25000.00", "27500.00"),
        "start_date": ("2027-01-01", "2028-01-01"),
    }
    assert diff.json()["added"] == diff.json()["removed"] == []

    await propose(contracts, cast.adviser, second["id"])
    still = await read_version(contracts, cast.payer_a, first["id"])
    assert still["status"] == "active"  # the amendment governs only once everyone signed
    for actor in signers(cast):
        await sign(contracts, actor, second["id"])

    old = await read_version(contracts, cast.payer_a, first["id"])
    new = await read_version(contracts, cast.payer_a, second["id"])
    assert (old["status"], new["status"]) == ("superseded", "active")
    assert old["superseded_at"] is not None
    assert all(s["valid"] for s in old["signatures"])

    async def in_force(on: str) -> httpx.Response:
        return await contracts.get(
            f"/v1/contracts/{contract_id}/versions/in-force", params={"on": on}, headers=cast.provider.headers
        )

    before, after = await in_force("2027-12-31"), await in_force("2028-01-01")
    assert before.json()["id"] == first["id"]
    assert before.json()["terms"]["outcomes"][0]["tariff"] == "25000.00"
    assert after.json()["id"] == second["id"]
    assert after.json()["terms"]["outcomes"][0]["tariff"] == "27500.00"
    assert_problem(await in_force("2026-12-31"), 404, "no-version-in-force")
    assert_problem(await in_force("2030-01-01"), 404, "no-version-in-force")

    listed = await contracts.get(f"/v1/contracts/{contract_id}", headers=cast.observer.headers)
    assert [(v["number"], v["status"]) for v in listed.json()["versions"]] == [
        (1, "superseded"),
        (2, "active"),
    ]


async def test_termination_ends_what_is_in_force_from_its_effective_date(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    active = await activate(contracts, cast)
    # Termination by agreement (the terms grant no one unilateral termination): every party that signed
    # consents to the same date, and the last consent ends the version.
    for actor in signers(cast):
        response = await contracts.post(
            f"/v1/contract-versions/{active['id']}/termination",
            json={"effective_on": "2028-07-01", "reason": "Programme closed by mutual agreement"},
            headers=actor.headers | key(),
        )
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "terminated"
    assert response.json()["terminated_on"] == "2028-07-01"
    url = f"/v1/contracts/{active['contract_id']}/versions/in-force"
    assert (await contracts.get(url, params={"on": "2028-06-30"}, headers=cast.payer_a.headers)).json()[
        "id"
    ] == active["id"]
    assert_problem(await contracts.get(url, params={"on": "2028-07-01"}, headers=cast.payer_a.headers), 404)
    amend = await contracts.post(
        f"/v1/contracts/{active['contract_id']}/amendments", headers=cast.payer_a.headers | key()
    )
    assert_problem(amend, 409, "invalid-transition")


async def test_an_active_version_expires_only_after_its_end_date(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    active = await activate(contracts, cast, start_date="2024-01-01", end_date="2024-12-31")
    expired = await contracts.post(
        f"/v1/contract-versions/{active['id']}/expiry", headers=cast.provider.headers | key()
    )
    assert expired.status_code == 200, expired.text
    assert expired.json()["status"] == "expired"
    assert expired.headers["cache-control"] == "private, max-age=31536000, immutable"

    running = await activate_second_partnership_contract(contracts, cast)
    refused = await contracts.post(
        f"/v1/contract-versions/{running['id']}/expiry", headers=cast.provider.headers | key()
    )
    assert_problem(refused, 409, "invalid-transition")


async def activate_second_partnership_contract(contracts: httpx.AsyncClient, cast: Cast) -> dict[str, object]:
    """Another contract of the same partnership, in a later period that does not overlap the first."""
    return await activate(contracts, cast, start_date="2025-01-01", end_date="2099-12-31")


async def test_a_withdrawn_proposal_cannot_be_signed_and_can_be_redrafted(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    draft = await create_contract(contracts, cast)
    await propose(contracts, cast.payer_a, draft["id"])
    await sign(contracts, cast.payer_a, draft["id"])
    withdrawn = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/withdrawal",
        json={"reason": "Tariff mistake"},
        headers=cast.payer_b.headers | key(),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    late = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/signatures", headers=cast.provider.headers | key()
    )
    assert_problem(late, 409, "invalid-transition")
    twice = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/withdrawal",
        json={"reason": "Once more"},
        headers=cast.payer_b.headers | key(),
    )
    assert assert_problem(twice, 409, "invalid-transition")["version_status"] == "withdrawn"
    redraft = await contracts.post(
        f"/v1/contracts/{draft['contract_id']}/amendments", headers=cast.provider.headers | key()
    )
    assert redraft.status_code == 201, redraft.text
    assert (redraft.json()["number"], redraft.json()["derived_from_id"]) == (2, draft["id"])
    assert redraft.json()["terms"] == draft["terms"]


async def test_a_signature_over_tampered_terms_reads_as_invalid(
    contracts: httpx.AsyncClient, cast: Cast, platform: Platform
) -> None:
    active = await activate(contracts, cast)
    url: str = platform.database_urls["contracts"]  # type: ignore[attr-defined]
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # Someone with database access edits a signed tariff, bypassing the freeze trigger.
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute(
                "UPDATE contract_versions SET terms = jsonb_set(terms, '{outcomes,0,tariff}', '\"1.00\"') "
                "WHERE id = $1",
                active["id"],
            )
        with_trigger = await connection.fetchval(
            "SELECT count(*) FROM pg_trigger "
            "WHERE tgname = 'trg_contract_versions_frozen' AND tgenabled = 'O'"
        )
        assert with_trigger == 1
    finally:
        await connection.close()
    version = await read_version(contracts, cast.evaluator, active["id"])
    assert version["signatures"]
    assert all(s["valid"] is False for s in version["signatures"])
    assert len(version["pending_signatories"]) == 4


async def test_the_database_refuses_to_change_frozen_terms(
    contracts: httpx.AsyncClient, shared_cast: Cast, platform: Platform
) -> None:
    draft = await create_contract(contracts, shared_cast)
    await propose(contracts, shared_cast.payer_a, draft["id"])
    url: str = platform.database_urls["contracts"]  # type: ignore[attr-defined]
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="frozen"):
            await connection.execute(
                "UPDATE contract_versions SET terms = jsonb_set(terms, '{title}', '\"x\"') WHERE id = $1",
                draft["id"],
            )
    finally:
        await connection.close()


async def test_frozen_terms_are_served_immutable_and_versions_revalidate(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    draft_terms = await contracts.get(
        f"/v1/contract-versions/{draft['id']}/terms", headers=shared_cast.payer_a.headers
    )
    assert draft_terms.headers["cache-control"] == "private, no-cache"
    proposed = await propose(contracts, shared_cast.payer_a, draft["id"])
    terms = await contracts.get(
        f"/v1/contract-versions/{draft['id']}/terms", headers=shared_cast.payer_a.headers
    )
    assert terms.status_code == 200
    assert terms.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert terms.headers["etag"] == f'"{proposed["content_hash"]}"'
    assert hashlib.sha256(__import__("rfc8785").dumps(terms.json())).hexdigest() == proposed["content_hash"]
    again = await contracts.get(
        f"/v1/contract-versions/{draft['id']}/terms",
        headers=shared_cast.payer_a.headers | {"If-None-Match": terms.headers["etag"]},
    )
    assert again.status_code == 304

    version = await contracts.get(f"/v1/contract-versions/{draft['id']}", headers=shared_cast.payer_a.headers)
    etag = version.headers["etag"]
    assert version.headers["cache-control"] == "private, no-cache"
    unchanged = await contracts.get(
        f"/v1/contract-versions/{draft['id']}", headers=shared_cast.payer_a.headers | {"If-None-Match": etag}
    )
    assert unchanged.status_code == 304
    await sign(contracts, shared_cast.payer_a, draft["id"])
    changed = await contracts.get(
        f"/v1/contract-versions/{draft['id']}", headers=shared_cast.payer_a.headers | {"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_an_attachment_round_trips_byte_for_byte_with_its_sha256(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    # Every byte value, in an order (a stride of 7) that puts no ten ASCII digits in a row: `0123456789`
    # is CPR-shaped, and the suite's privacy scan (tests/privacy_scan.py) reads stored bytes as text.
    content = bytes(i * 7 % 256 for i in range(256)) * 1000 + b"%PDF-1.7 signed text"
    uploaded = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/attachments",
        params={"filename": "Kontrakt v1 (underskrevet).pdf"},
        content=content,
        headers=shared_cast.adviser.headers | key() | {"Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    meta = uploaded.json()
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert (meta["size"], meta["media_type"]) == (len(content), "application/pdf")

    download = await contracts.get(
        f"/v1/contract-attachments/{meta['id']}/content", headers=shared_cast.investor.headers
    )
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["etag"] == f'"{meta["sha256"]}"'
    version = await read_version(contracts, shared_cast.investor, draft["id"])
    assert [a["id"] for a in version["attachments"]] == [meta["id"]]

    outsider = await contracts.get(
        f"/v1/contract-attachments/{meta['id']}/content", headers=shared_cast.outsider.headers
    )
    assert_problem(outsider, 404, "attachment-not-found")
    await propose(contracts, shared_cast.payer_a, draft["id"])
    late = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/attachments",
        params={"filename": "annex.txt"},
        content=b"late",
        headers=shared_cast.adviser.headers | key(),
    )
    assert_problem(late, 409, "version-not-editable")


async def test_a_retried_create_replays_the_first_answer(contracts: httpx.AsyncClient, cast: Cast) -> None:
    body = {"partnership_id": str(cast.partnership_id), "terms": terms_for(cast)}
    headers = cast.payer_a.headers | key()
    first = await contracts.post("/v1/contracts", json=body, headers=headers)
    again = await contracts.post("/v1/contracts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    listed = await contracts.get(
        "/v1/contracts", params={"partnership_id": str(cast.partnership_id)}, headers=cast.payer_a.headers
    )
    assert [c["id"] for c in listed.json()["items"]] == [first.json()["id"]]


async def test_batch_reads_and_cursor_pages(contracts: httpx.AsyncClient, cast: Cast) -> None:
    made = []
    for year in (2030, 2033, 2036):
        draft = await create_contract(
            contracts, cast, start_date=f"{year}-01-01", end_date=f"{year + 2}-12-31"
        )
        made.append(draft)
    ids = [d["contract_id"] for d in made]
    pages: list[str] = []
    cursor = None
    while True:
        params = {"partnership_id": str(cast.partnership_id), "limit": "2"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = (await contracts.get("/v1/contracts", params=params, headers=cast.observer.headers)).json()
        pages += [c["id"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert pages == ids

    batch = await contracts.get(
        "/v1/contracts", params={"ids": f"{ids[2]},{ids[0]}"}, headers=cast.investor.headers
    )
    assert sorted(c["id"] for c in batch.json()["items"]) == sorted([ids[0], ids[2]])
    versions = await contracts.get(
        "/v1/contract-versions",
        params={"ids": ",".join(d["id"] for d in made)},
        headers=cast.investor.headers,
    )
    assert sorted(v["id"] for v in versions.json()["items"]) == sorted(d["id"] for d in made)
    hidden = await contracts.get(
        "/v1/contract-versions", params={"ids": made[0]["id"]}, headers=cast.outsider.headers
    )
    assert hidden.json()["items"] == []
    assert_problem(
        await contracts.get("/v1/contracts", params={"ids": "nope"}, headers=cast.investor.headers),
        400,
        field="ids",
    )


async def test_signatures_arriving_together_activate_the_version(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    draft = await create_contract(contracts, cast)
    await propose(contracts, cast.payer_a, draft["id"])
    results = await asyncio.gather(
        *(
            contracts.post(f"/v1/contract-versions/{draft['id']}/signatures", headers=a.headers | key())
            for a in signers(cast)
        )
    )
    assert [r.status_code for r in results] == [201] * 4
    version = await read_version(contracts, cast.payer_a, draft["id"])
    assert version["status"] == "active"
    assert len(version["signatures"]) == 4


async def test_an_attachment_over_the_size_limit_is_refused(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    draft = await create_contract(contracts, shared_cast)
    response = await contracts.post(
        f"/v1/contract-versions/{draft['id']}/attachments",
        params={"filename": "huge.bin"},
        content=b"\0" * (10 * 1024 * 1024 + 1),
        headers=shared_cast.adviser.headers | key(),
    )
    assert_problem(response, 413, "attachment-too-large")
    assert (await read_version(contracts, shared_cast.adviser, draft["id"]))["attachments"] == []
