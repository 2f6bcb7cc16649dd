"""Open data through the graph (docs/open-data.md): an outcome payer changes what the partnership
publishes with `changeDisclosure`; every member, the observer (a knowledge partner) included, reads the
statuses, the INDIGO document and the OCDS record; no other partner type's schema holds the writes."""

from __future__ import annotations

import httpx

from effekt.sandbox.cast import Cast
from tests.contracts.support import activate
from tests.gateway.support import gid, gql

DISCLOSURE = """query($id: ID!) { partnership(id: $id) {
  disclosure { smallCellThreshold etag blocks { code status disputed source } }
  indigoExport
  contract { ocdsRecord }
} }"""
CHANGE = """mutation($id: ID!, $etag: String!, $blocks: [DisclosureBlockInput!]) {
  changeDisclosure(partnershipId: $id, etag: $etag, blocks: $blocks, reason: "Board decision") {
    __typename
    ... on Disclosure { blocks { code status source } }
    ... on MutationError { code message }
  }
}"""
MUTATIONS = '{ __type(name: "Mutation") { fields { name } } }'


async def test_a_payer_publishes_a_block_and_the_observer_reads_it_in_both_exports(
    contracts: httpx.AsyncClient, gateway: httpx.AsyncClient, shared_cast: Cast
) -> None:
    cast = shared_cast
    await activate(contracts, cast)
    pid = gid("Partnership", cast.partnership_id)
    before = await gql(gateway, cast.observer, DISCLOSURE, {"id": pid})
    assert "errors" not in before, before
    partnership = before["data"]["partnership"]
    assert {b["code"]: b["status"] for b in partnership["disclosure"]["blocks"]}[
        "contract.title"
    ] == "PARTNERSHIP"
    assert "name" not in partnership["indigoExport"]
    changed = await gql(
        gateway,
        cast.payer_a,
        CHANGE,
        {
            "id": pid,
            "etag": partnership["disclosure"]["etag"],
            "blocks": [
                {"code": "contract.title", "status": "PUBLIC"},
                {"code": "contract.period", "status": "DISPUTED"},
            ],
        },
    )
    result = changed["data"]["changeDisclosure"]
    assert result["__typename"] == "Disclosure", result
    after = (await gql(gateway, cast.observer, DISCLOSURE, {"id": pid}))["data"]["partnership"]
    blocks = {b["code"]: (b["status"], b["disputed"], b["source"]) for b in after["disclosure"]["blocks"]}
    assert blocks["contract.title"] == ("PUBLIC", False, "SET")
    assert blocks["contract.period"] == ("DISPUTED", True, "SET")
    assert after["indigoExport"]["name"]["value"].startswith("Flygtninge i job")
    assert "dates" not in after["indigoExport"]  # disputed: shown to members, never exported
    compiled = after["contract"]["ocdsRecord"]["records"][0]["compiledRelease"]
    assert compiled["contracts"][0]["title"].startswith("Flygtninge i job")
    assert "period" not in compiled["contracts"][0]
    stale = await gql(
        gateway, cast.payer_a, CHANGE, {"id": pid, "etag": partnership["disclosure"]["etag"], "blocks": []}
    )
    assert stale["data"]["changeDisclosure"]["code"] == "stale-version"  # the registry's own code


async def test_only_the_payers_schemas_hold_the_open_data_writes(
    gateway: httpx.AsyncClient, shared_cast: Cast
) -> None:
    cast = shared_cast
    for actor, holds in (
        (cast.payer_a, True),
        (cast.provider, False),
        (cast.investor, False),
        (cast.evaluator, False),
        (cast.adviser, False),
        (cast.observer, False),
    ):
        names = {f["name"] for f in (await gql(gateway, actor, MUTATIONS))["data"]["__type"]["fields"]}
        assert ({"changeDisclosure", "publishOpenData"} <= names) is holds, actor.partner_type
        assert not ({"changeDisclosure", "publishOpenData"} & names) or holds
