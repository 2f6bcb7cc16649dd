"""A payment statement's lines name claims, and through them people: only the provider and the statement's
payer read them. Investors, advisers and observers read the same statement as totals by outcome (period
and payer are the statement's own), with no claim id, participant id or line in any form: REST, its file
export and the gateway."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from tests.gateway.support import World, build_world, gid, gql
from tests.outcomes.support import check


@pytest.fixture(scope="module")
async def world(platform: Platform, shared_cast: Cast) -> World:
    cast = shared_cast
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        return await build_world(contracts, outcomes, cast)


def _person_level(world: World) -> set[str]:
    return {*world.claims, *(pid for ids in world.participants.values() for pid in ids)}


def _totals_only(world: World) -> dict[str, Actor]:
    c = world.cast
    return {
        "investor": c.investor,
        "investor_machine": c.investor_machine,
        "adviser": c.adviser,
        "observer": c.observer,
    }


async def _the_statement(outcomes: httpx.AsyncClient, actor: Actor, world: World) -> dict[str, Any]:
    page = check(
        await outcomes.get(
            "/v1/payment-statements", params={"contract_id": str(world.contract_id)}, headers=actor.headers
        ),
        200,
    )
    (statement,) = page["items"]
    return dict(statement)


async def test_the_provider_and_the_payer_read_the_lines_and_their_totals_by_outcome(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    for actor in (world.cast.provider, world.cast.payer_a):
        listed = await _the_statement(outcomes, actor, world)
        read = check(await outcomes.get(f"/v1/payment-statements/{listed['id']}", headers=actor.headers), 200)
        assert [x["claim_id"] for x in read["lines"]] == [world.claims[0]]
        assert listed["lines"] == read["lines"]
        (outcome,) = read["outcomes"]
        assert (outcome["outcome_code"], outcome["claim_lines"], outcome["adjustment_lines"]) == (
            "job_start",
            1,
            0,
        )
        assert (
            Decimal(outcome["amount"])
            == sum(Decimal(x["amount"]) for x in read["lines"])
            == Decimal(read["total"])
        )
        assert Decimal(outcome["tariff_share"]) - Decimal(outcome["amount"]) == Decimal(outcome["cut_share"])


async def test_investors_advisers_and_observers_read_totals_only_with_no_claim_or_person(
    outcomes: httpx.AsyncClient, world: World
) -> None:
    full = await _the_statement(outcomes, world.cast.provider, world)
    linked = _person_level(world)
    for who, actor in _totals_only(world).items():
        listed = await _the_statement(outcomes, actor, world)
        read = check(await outcomes.get(f"/v1/payment-statements/{full['id']}", headers=actor.headers), 200)
        batch = check(
            await outcomes.get("/v1/payment-statements", params={"ids": full["id"]}, headers=actor.headers),
            200,
        )
        for answer in (listed, read, *batch["items"]):
            assert answer["lines"] is None, who
            # One claim line is a small cell (kit/cells.py, threshold 5): withheld, with the amounts and
            # the statement's totals that would give it back (tests/outcomes/test_small_cells.py).
            assert [(x["outcome_code"], x["claim_lines"], x["amount"]) for x in answer["outcomes"]] == [
                ("job_start", None, None)
            ], who
            assert (answer["total"], answer["payer_organisation_id"], answer["period_start"]) == (
                None,
                full["payer_organisation_id"],
                full["period_start"],
            )
        text = str([listed, read, batch])
        assert not [x for x in linked if x in text], who

        plain = await outcomes.get(
            f"/v1/payment-statements/{full['id']}/export", params={"format": "csv"}, headers=actor.headers
        )
        assert plain.status_code == 200, plain.text
        assert not [x for x in linked if x in plain.text], who
        (row,) = csv.DictReader(io.StringIO(plain.content.decode("utf-8-sig")))
        assert "claim_id" not in row
        assert (row["outcome_code"], row["claim_lines"], row["amount"]) == ("job_start", "", "")
        assert row["suppressed"] == "claim_lines adjustment_lines tariff_share cut_share amount"
        book = await outcomes.get(f"/v1/payment-statements/{full['id']}/export", headers=actor.headers)
        sheet = load_workbook(io.BytesIO(book.content))["Statement totals"]
        cells = [str(v) for r in sheet.iter_rows(values_only=True) for v in r]
        assert not [x for x in linked if x in cells], who


async def test_the_gateway_gives_totals_everywhere_and_lines_only_to_the_provider_and_payer(
    gateway: httpx.AsyncClient, world: World
) -> None:
    totals = "statements { total outcomes { outcomeCode claimLines amount } }"
    with_lines = "statements { total outcomes { outcomeCode claimLines amount } lines { claimId } }"
    query = "query($id: ID!) { partnership(id: $id) { %s } }"
    variables = {"id": gid("Partnership", world.cast.partnership_id)}
    for actor in (world.cast.provider, world.cast.payer_a):
        body = await gql(gateway, actor, query % with_lines, variables)
        (statement,) = body["data"]["partnership"]["statements"]
        assert statement["lines"] == [{"claimId": world.claims[0]}]
        assert statement["outcomes"] == [
            {"outcomeCode": "job_start", "claimLines": 1, "amount": statement["total"]}
        ]
    # Investors and legal advisers: the schema holds no statement line at all.
    for actor in (world.cast.investor, world.cast.adviser):
        refused = await gql(gateway, actor, query % with_lines, variables, status=400)
        assert "Cannot query field 'lines' on type 'Statement'" in str(refused["errors"])
        body = await gql(gateway, actor, query % totals, variables)
        (statement,) = body["data"]["partnership"]["statements"]
        assert statement["outcomes"][0]["claimLines"] is None  # 1 is a small cell
    # An observer's organisation may be of a type whose schema has lines (a provider): the service says null.
    body = await gql(gateway, world.cast.observer, query % with_lines, variables)
    assert "errors" not in body, body
    (statement,) = body["data"]["partnership"]["statements"]
    assert statement["lines"] is None
    assert statement["outcomes"][0]["claimLines"] is None
