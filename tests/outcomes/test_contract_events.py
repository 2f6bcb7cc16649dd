"""Every partner learns from the feed when a contract is activated or terminated (issue 13): the outcome
service reads the registry's change log with its own platform client and records each change in the
partnership's ledger exactly once, naming no person."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, make_cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.terms import outcome
from tests.contracts.support import activate, key
from tests.outcomes.integrations.published import catalogue, catalogued_types, payload_validator
from tests.outcomes.integrations.support import read_feed_page
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    quarter,
    whole_ledger,
)

TYPES = ("dk.effekt.contract.activated", "dk.effekt.contract.terminated")


@pytest.fixture
async def clients(recording_platform: Platform) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        new_client(base_url=recording_platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=recording_platform.url("outcomes"), timeout=30) as outcomes,
    ):
        yield contracts, outcomes


async def _contract_events(outcomes: httpx.AsyncClient, actor: Actor, cast: Cast) -> list[dict[str, Any]]:
    items, _ = await read_feed_page(
        outcomes, actor, None, partnership=str(cast.partnership_id), type=list(TYPES), limit=1000
    )
    return items


async def test_activation_and_termination_reach_every_partner_through_the_feed_once(
    recording_platform: Platform, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    contracts, outcomes = clients
    cast = await make_cast(recording_platform)
    active = await activate(contracts, cast)
    ended = await contracts.post(
        f"/v1/contract-versions/{active['id']}/termination",
        json={"effective_on": "2028-07-01", "reason": "Programme ends"},
        headers=cast.provider.headers | key(),
    )
    assert ended.status_code == 200, ended.text
    for actor in (cast.payer_a, cast.payer_b, cast.investor):
        ended = await contracts.post(
            f"/v1/contract-versions/{active['id']}/termination",
            json={"effective_on": "2028-07-01", "reason": "Programme ends"},
            headers=actor.headers | key(),
        )
        assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "terminated"

    deadline = asyncio.get_running_loop().time() + 30  # the recorder polls every 0.5 s here
    while len(await _contract_events(outcomes, cast.provider, cast)) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the changes did not reach the feed in time"
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # further rounds round of the recorder appends nothing more
    seen = []
    for actor in (cast.provider, cast.investor):
        items = await _contract_events(outcomes, actor, cast)
        assert [i["type"] for i in items] == list(TYPES), items
        seen.append(items)
        activated, terminated = items
        assert activated["subject"] == terminated["subject"] == f"contract-versions/{active['id']}"
        assert activated["data"]["contract_id"] == active["contract_id"]
        assert activated["data"]["version_id"] == active["id"]
        assert activated["data"]["start_date"] == active["terms"]["start_date"]
        assert terminated["data"]["terminated_on"] == "2028-07-01"
        assert terminated["data"]["by"] == "agreement"
        # No person and no free text: the acting users and the reason stay in the registry.
        body = json.dumps(items)
        assert "Programme ends" not in body
        for someone in (cast.provider, cast.payer_a, cast.payer_b, cast.investor):
            assert str(someone.user_id) not in body
        assert all("pseudonym" not in i for i in items)
        assert activated["data"]["actor"]["kind"] == "client"
    # Every audience receives the same hashed event.
    assert [i["ledgerhash"] for i in seen[0]] == [i["ledgerhash"] for i in seen[1]]

    ledger = await whole_ledger(outcomes, cast.investor, cast.partnership_id)
    recorded = [e["event"]["type"] for e in ledger if e["event"]["type"] in TYPES]
    assert recorded == list(TYPES)
    verification = await outcomes.get(
        f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.investor.headers
    )
    assert verification.status_code == 200, verification.text
    assert verification.json()["valid"] is True


async def test_a_block_withdrawn_from_publication_reaches_every_partner_and_matches_the_catalogue(
    recording_platform: Platform, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """A public block made private tells every consumer through the feed to delete its copies
    (docs/open-data.md), as a catalogued event naming the blocks and no person."""
    contracts, outcomes = clients
    cast = await make_cast(recording_platform)
    await activate(contracts, cast)
    url = f"/v1/partnerships/{cast.partnership_id}/disclosure"

    async def change(blocks: dict[str, str], reason: str) -> None:
        etag = (await contracts.get(url, headers=cast.payer_a.headers)).headers["ETag"]
        changed = await contracts.patch(
            url, json={"blocks": blocks, "reason": reason}, headers=cast.payer_a.headers | {"If-Match": etag}
        )
        assert changed.status_code == 200, changed.text

    await change({"contract.title": "public", "results.outcomes": "public"}, "Agreed at the board")
    await change({"contract.title": "private", "results.outcomes": "disputed"}, "A name under dispute")
    wanted = ["dk.effekt.disclosure.withdrawn"]
    deadline = asyncio.get_running_loop().time() + 30
    while not (
        items := (
            await read_feed_page(
                outcomes, cast.investor, None, partnership=str(cast.partnership_id), type=wanted, limit=10
            )
        )[0]
    ):
        assert asyncio.get_running_loop().time() < deadline, "the withdrawal did not reach the feed in time"
        await asyncio.sleep(0.2)
    document = catalogue()
    key = catalogued_types(document)["dk.effekt.disclosure.withdrawn"]
    for reader in (cast.investor, cast.observer, cast.provider):
        seen, _ = await read_feed_page(
            outcomes, reader, None, partnership=str(cast.partnership_id), type=wanted, limit=10
        )
        assert len(seen) == 1
        event = seen[0]
        assert event["subject"] == f"partnerships/{cast.partnership_id}/disclosure"
        assert event["data"]["blocks"] == ["contract.title", "results.outcomes"]
        assert list(payload_validator(document, key).iter_errors(event)) == []
        assert "A name under dispute" not in json.dumps(event)
    assert items[0]["id"] == seen[0]["id"]


async def _amend(contracts: httpx.AsyncClient, cast: Cast, contract_id: UUID, terms: dict[str, Any]) -> str:
    """Draft and propose an amendment; every signature but the provider's: the draft's id."""
    draft = check(
        await contracts.post(
            f"/v1/contracts/{contract_id}/amendments",
            json={"terms": terms},
            headers=cast.provider.headers | key(),
        ),
        201,
    )
    proposed = check(
        await contracts.post(
            f"/v1/contract-versions/{draft['id']}/proposal", headers=cast.provider.headers | key()
        ),
        200,
    )
    for signer in (cast.payer_a, cast.payer_b):
        check(
            await contracts.post(
                f"/v1/contract-versions/{draft['id']}/signatures",
                json={"content_hash": proposed["content_hash"]},
                headers=signer.headers | key(),
            ),
            201,
        )
    return str(draft["id"])


async def _statement(outcomes: httpx.AsyncClient, cast: Cast, contract_id: UUID, payer: Actor) -> Any:
    start, end = quarter(TODAY)
    return check(
        await outcomes.post(
            "/v1/payment-statements",
            json={
                "contract_id": str(contract_id),
                "payer_organisation_id": str(payer.organisation_id),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
            headers=cast.provider.headers | key(),
        ),
        201,
    )


def _by_claim(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    paid: dict[str, Decimal] = {}
    for line in lines:
        paid[line["claim_id"]] = paid.get(line["claim_id"], Decimal(0)) + Decimal(line["amount"])
    return paid


async def test_a_retroactive_amendment_is_repriced_when_it_activates_and_booked_on_the_next_statement(
    recording_platform: Platform, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """Job starts at 25 000 kr, split 60/40 between Herning and Viborg, achieved 20 and 5 days ago and
    verified; an amendment effective 10 days ago raises the price to 30 000, and four more starts (2 days
    ago) are verified while the last signature activates it. By hand: the 5-day start gains 5 000 (Herning
    3 000, Viborg 2 000) as soon as the activation is recorded, before any statement is prepared; the
    20-day start keeps 25 000; each 2-day start is worth 30 000 whichever version its verification read.
    Herning owes 15 000 + 18 000 + 4 x 18 000 = 105 000, Viborg 10 000 + 12 000 + 4 x 12 000 = 70 000;
    preparing again books nothing more."""
    contracts, outcomes = clients
    cast = await make_cast(recording_platform)
    terms = employment_terms(cast, outcomes=[outcome("job_start", "25000.00")])
    contract_id, first_version = await active_contract(contracts, cast, terms)
    made = []
    for n, days in enumerate((20, 5, 2, 2, 2, 2)):
        person = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(7100 + n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=60),
        )
        await confirm(outcomes, cast.payer_a, person["id"])
        made.append(
            await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=days))
        )
    for earlier in made[:2]:
        await decide(outcomes, cast.payer_a, earlier["id"], "verified")

    amended = copy.deepcopy(terms)
    amended["outcomes"][0]["tariff"] = "30000.00"
    amended["start_date"] = (TODAY - timedelta(days=10)).isoformat()
    amendment = await _amend(contracts, cast, contract_id, amended)
    proposed = check(
        await contracts.get(f"/v1/contract-versions/{amendment}", headers=cast.provider.headers), 200
    )
    signed, *_ = await asyncio.gather(
        contracts.post(
            f"/v1/contract-versions/{amendment}/signatures",
            json={"content_hash": proposed["content_hash"]},
            headers=cast.provider.headers | key(),
        ),
        *(decide(outcomes, cast.payer_a, late["id"], "verified") for late in made[2:]),
    )
    assert check(signed, 201)["status"] == "active"

    # Re-priced at activation: the claim and its split move before any statement is prepared.
    deadline = asyncio.get_running_loop().time() + 30  # the recorder polls every 0.5 s here
    while True:
        later = check(
            await outcomes.get(f"/v1/outcome-claims/{made[1]['id']}", headers=cast.payer_a.headers), 200
        )
        if later["payable"] == "30000.00":
            break
        assert asyncio.get_running_loop().time() < deadline, "the activation was not re-priced in time"
        await asyncio.sleep(0.2)
    assert later["priced_contract_version_id"] == amendment
    split = sorted((UUID(x["payer_organisation_id"]), x["amount"]) for x in later["split"])
    assert split == sorted(
        [
            (cast.payer_a.organisation_id, "15000.00"),
            (cast.payer_b.organisation_id, "10000.00"),
            (cast.payer_a.organisation_id, "3000.00"),
            (cast.payer_b.organisation_id, "2000.00"),
        ]
    )
    earliest = check(
        await outcomes.get(f"/v1/outcome-claims/{made[0]['id']}", headers=cast.payer_a.headers), 200
    )
    assert (earliest["payable"], earliest["priced_contract_version_id"]) == ("25000.00", str(first_version))
    feed, _ = await read_feed_page(
        outcomes, cast.payer_a, None, partnership=str(cast.partnership_id), type=["dk.effekt.claim.repriced"]
    )
    first_repricing = [e for e in feed if e["data"]["claim_id"] == made[1]["id"]]
    assert len(first_repricing) == 1
    assert first_repricing[0]["data"]["actor"]["kind"] == "client"  # the service's own client re-priced it
    assert first_repricing[0]["data"]["adjustments"]

    herning = await _statement(outcomes, cast, contract_id, cast.payer_a)
    viborg = await _statement(outcomes, cast, contract_id, cast.payer_b)
    assert (herning["total"], viborg["total"]) == ("105000.00", "70000.00")
    assert _by_claim(herning["lines"]) == {
        made[0]["id"]: Decimal("15000.00"),
        **{late["id"]: Decimal("18000.00") for late in made[1:]},
    }
    assert _by_claim(viborg["lines"]) == {
        made[0]["id"]: Decimal("10000.00"),
        **{late["id"]: Decimal("12000.00") for late in made[1:]},
    }
    adjustments = [
        (x["claim_id"], x["amount"], x["repriced_by_version_id"])
        for x in herning["lines"]
        if x["kind"] == "adjustment" and x["claim_id"] == made[1]["id"]
    ]
    assert adjustments == [(made[1]["id"], "3000.00", amendment)]
    for late in made[2:]:
        read = check(
            await outcomes.get(f"/v1/outcome-claims/{late['id']}", headers=cast.payer_a.headers), 200
        )
        assert (read["payable"], read["priced_contract_version_id"]) == ("30000.00", amendment)

    await asyncio.sleep(1.5)  # further rounds of the recorder, and preparing again, book nothing more
    again = await _statement(outcomes, cast, contract_id, cast.payer_a)
    assert (again["total"], len(again["lines"])) == (herning["total"], len(herning["lines"]))
    feed, _ = await read_feed_page(
        outcomes, cast.payer_a, None, partnership=str(cast.partnership_id), type=["dk.effekt.claim.repriced"]
    )
    assert [e["data"]["claim_id"] for e in feed].count(made[1]["id"]) == 1


async def test_the_registry_serves_a_logged_versions_terms_only_to_its_readers_and_only_once_active(
    recording_platform: Platform, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """What the outcome service reads to re-price at activation: an active version's frozen terms and dates,
    nothing else of it; a draft is not in the log (404); a partner is no event reader (403)."""
    contracts, _ = clients
    cast = await make_cast(recording_platform)
    terms = employment_terms(cast, outcomes=[outcome("job_start", "25000.00")])
    contract_id, version_id = await active_contract(contracts, cast, terms)
    logged = check(
        await contracts.get(f"/v1/contract-events/versions/{version_id}", headers=cast.operator.headers), 200
    )
    assert set(logged) == {
        "id",
        "contract_id",
        "partnership_id",
        "number",
        "status",
        "content_hash",
        "start_date",
        "end_date",
        "terms",
    }
    assert (logged["contract_id"], logged["status"], logged["terms"]) == (str(contract_id), "active", terms)
    draft = check(
        await contracts.post(
            f"/v1/contracts/{contract_id}/amendments",
            json={"terms": terms},
            headers=cast.provider.headers | key(),
        ),
        201,
    )
    unlogged = await contracts.get(
        f"/v1/contract-events/versions/{draft['id']}", headers=cast.operator.headers
    )
    assert unlogged.status_code == 404, unlogged.text
    partner = await contracts.get(f"/v1/contract-events/versions/{version_id}", headers=cast.provider.headers)
    assert partner.status_code == 403, partner.text
