"""Each partner type's view of the same partnership, field by field and row by row, driven from
gateway/policy.py: one query is sent with every actor's real token."""

from __future__ import annotations

import re

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.http import new_client
from gateway import policy
from services.outcomes import access
from tests.gateway.support import Tree, World, assert_shape, build_world, gid, gql, leaves, prune, render

PARTICIPANT: Tree = {
    **leaves(
        "id", "uuid", "pseudonym", "municipalityCode", "enrolmentDate", "eligibilityConfirmedAt", "exitDate"
    ),
    "municipalReference": (None, {}),
    "claims": ("Claim", leaves("uuid", "outcomeCode", "status")),
}
CLAIM: Tree = {
    **leaves(
        "id", "uuid", "participantId", "outcomeCode", "achievementDate", "status", "payable", "currency"
    ),
    "evidence": ("Evidence", leaves("reference", "hasDocument")),
}
PARTNERSHIP: Tree = {
    **leaves("id", "name", "status", "myRoles"),
    "members": (
        "Member",
        {"role": (None, {}), "organisation": ("Organisation", leaves("name", "partnerType"))},
    ),
    "contract": (
        "Contract",
        {
            "title": (None, {}),
            "activeVersion": (
                "ContractVersion",
                {
                    **leaves("number", "status", "contentHash", "terms", "pendingSignatories"),
                    "signatures": ("Signature", leaves("organisationId", "valid")),
                },
            ),
        },
    ),
    "outcomeSummary": (
        "OutcomeSummary",
        {
            **leaves("enrolled", "exited"),
            "verifiedOutcomes": ("OutcomeMonth", leaves("outcomeCode", "month", "verified", "value")),
            "contracts": ("ContractTotals", leaves("earned", "pendingClaims", "remainingCap")),
        },
    ),
    "statements": ("Statement", leaves("status", "total", "currency", "payerOrganisationId")),
    "participants(first: 20)": (
        "ParticipantConnection",
        {"edges": ("ParticipantEdge", {"cursor": (None, {}), "node": ("Participant", PARTICIPANT)})},
    ),
    "claims(first: 20)": ("ClaimConnection", {"nodes": ("Claim", CLAIM)}),
    "ledger(first: 50)": (
        "LedgerEventConnection",
        {
            "nodes": ("LedgerEvent", leaves("sequence", "type", "hash", "participantId", "subject", "data")),
            "pageInfo": ("PageInfo", leaves("hasNextPage", "endCursor")),
        },
    ),
    "ledgerStatus": ("ChainStatus", leaves("valid", "checked")),
}
QUERY = "query View($id: ID!) { partnership(id: $id) { %s } }"
UNKNOWN_FIELD = re.compile(r"Cannot query field '(\w+)' on type '(\w+)'")


@pytest.fixture(scope="module")
async def world(platform: Platform, shared_cast: Cast) -> World:
    cast = shared_cast
    async with (
        new_client(base_url=platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        return await build_world(contracts, outcomes, cast)


def _actors(world: World) -> dict[str, Actor]:
    c = world.cast
    return {
        "payer_a": c.payer_a,
        "payer_b": c.payer_b,
        "provider": c.provider,
        "investor": c.investor,
        "evaluator": c.evaluator,
        "adviser": c.adviser,
        "observer": c.observer,
    }


ACTORS = ["payer_a", "payer_b", "provider", "investor", "evaluator", "adviser", "observer"]


@pytest.mark.parametrize("who", ACTORS)
async def test_the_full_query_is_refused_exactly_on_the_fields_the_policy_hides(
    gateway: httpx.AsyncClient, world: World, who: str
) -> None:
    actor = _actors(world)[who]
    _, hidden = prune(actor.partner_type, "Partnership", PARTNERSHIP)
    body = await gql(
        gateway,
        actor,
        QUERY % render(PARTNERSHIP),
        {"id": gid("Partnership", world.cast.partnership_id)},
        status=400 if hidden else 200,
    )
    if not hidden:
        assert "errors" not in body, body
        return
    refused = set()
    for error in body["errors"]:
        match = UNKNOWN_FIELD.search(error["message"])
        assert match, error
        refused.add((match.group(2), match.group(1)))
        assert "Did you mean" not in error["message"]  # no suggestions: they would leak the schema
    assert refused == hidden


@pytest.mark.parametrize("who", ACTORS)
async def test_the_allowed_query_returns_exactly_the_allowed_fields_and_rows(
    gateway: httpx.AsyncClient, world: World, who: str
) -> None:
    actor = _actors(world)[who]
    allowed, _ = prune(actor.partner_type, "Partnership", PARTNERSHIP)
    body = await gql(
        gateway, actor, QUERY % render(allowed), {"id": gid("Partnership", world.cast.partnership_id)}
    )
    assert "errors" not in body, body["errors"]
    partnership = body["data"]["partnership"]
    assert_shape(partnership, allowed)

    roles = {r.lower() for r in partnership["myRoles"]}
    assert roles, "every actor here is a member"
    people = policy.rows_visible(frozenset(roles), "Participant")
    all_ids = {pid for ids in world.participants.values() for pid in ids}
    if "participants(first: 20)" in allowed:
        seen = {e["node"]["uuid"]: e["node"] for e in partnership["participants"]["edges"]}
        if not people:
            assert seen == {}
        elif "outcome_payer" in roles:
            assert len(seen) == 2
            # A payer sees exactly the participants resident in its municipality, and their references.
            assert set(seen) == set(world.participants[actor.municipality_code or ""])
            assert {n["municipalityCode"] for n in seen.values()} == {actor.municipality_code}
            for participant_id, node in seen.items():
                assert node["municipalReference"] == world.references[participant_id]
        else:
            assert set(seen) == all_ids
            assert len(all_ids) == 4
        claims = {c["uuid"]: c for c in partnership["claims"]["nodes"]}
        # A claim is visible exactly when its participant is: Herning's claim to Herning, Viborg's to
        # Viborg, both to the provider and the evaluator, none to an observer.
        expected = {c for c, owner in world.claim_owner.items() if owner in seen}
        assert set(claims) == expected
        assert len(expected) == (0 if not people else 1 if "outcome_payer" in roles else 2)
        for participant in seen.values():
            assert {c["uuid"] for c in participant["claims"]} == {
                c for c, owner in world.claim_owner.items() if owner == participant["uuid"]
            }
    else:
        assert actor.partner_type not in policy.PERSON_LEVEL

    # Aggregates and statements hold no personal data: every partner reads them; exactly the audiences of
    # person-level events, the rest under the small-cell rule (4 enrolled is a small count).
    exact = access.audience_for(roles, actor.municipality_code).sees_pseudonyms
    assert partnership["outcomeSummary"]["enrolled"] == (len(all_ids) if exact else None)
    assert partnership["contract"]["activeVersion"]["status"] == "ACTIVE"
    assert len(partnership["members"]) == 7
    assert all(s["valid"] for s in partnership["contract"]["activeVersion"]["signatures"])
    assert partnership["ledgerStatus"]["valid"] is True
    events = partnership["ledger"]["nodes"]
    assert events
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    if actor.partner_type not in policy.PERSON_LEVEL:
        assert all(set(e) == {"sequence", "type", "hash"} for e in events)


async def test_statements_follow_the_services_rows_for_each_partner(
    gateway: httpx.AsyncClient, world: World
) -> None:
    query = "query($id: ID!) { partnership(id: $id) { statements { payerOrganisationId } } }"
    counts = {}
    for who, actor in _actors(world).items():
        body = await gql(gateway, actor, query, {"id": gid("Partnership", world.cast.partnership_id)})
        counts[who] = len(body["data"]["partnership"]["statements"])
    # One draft for Herning: Herning, the provider, and (as totals only) the investor, the adviser and the
    # observer see it; Viborg and the evaluator do not.
    assert counts == {
        "payer_a": 1,
        "payer_b": 0,
        "provider": 1,
        "investor": 1,
        "evaluator": 0,
        "adviser": 1,
        "observer": 1,
    }


async def test_an_outsider_sees_no_partnership_at_all(gateway: httpx.AsyncClient, world: World) -> None:
    body = await gql(
        gateway,
        world.cast.outsider,
        "query($id: ID!) { partnership(id: $id) { id name } }",
        {"id": gid("Partnership", world.cast.partnership_id)},
    )
    assert body["data"] == {"partnership": None}
    assert "errors" not in body


async def test_the_operator_administers_without_seeing_a_participant(
    gateway: httpx.AsyncClient, world: World
) -> None:
    allowed, hidden = prune("operator", "Partnership", PARTNERSHIP)
    assert ("Partnership", "participants") in hidden
    body = await gql(
        gateway,
        world.cast.operator,
        QUERY % render(allowed),
        {"id": gid("Partnership", world.cast.partnership_id)},
    )
    assert "errors" not in body, body["errors"]
    partnership = body["data"]["partnership"]
    assert_shape(partnership, allowed)
    assert partnership["myRoles"] == []
    assert len(partnership["members"]) == 7
    assert partnership["outcomeSummary"]["enrolled"] is None  # 4: a small count, withheld from the operator
    assert all(set(e) == {"sequence", "type", "hash"} for e in partnership["ledger"]["nodes"])


async def _walk(
    gateway: httpx.AsyncClient, actor: Actor, world: World, field: str, leaf: str
) -> list[object]:
    """Every node's `leaf` of a partnership connection, page by page through `endCursor`; each page's
    `startCursor` is its first edge's, and only a page read `after` a cursor has a previous page."""
    query = (
        f"query($id: ID!, $after: String) {{ partnership(id: $id) {{"
        f" {field}(first: 3, after: $after) {{ nodes {{ {leaf} }} edges {{ cursor }}"
        " pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"
    )
    seen: list[object] = []
    after = None
    while True:
        variables = {"id": gid("Partnership", world.cast.partnership_id), "after": after}
        page = (await gql(gateway, actor, query, variables))["data"]["partnership"][field]
        seen += [node[leaf] for node in page["nodes"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["startCursor"] == (page["edges"][0]["cursor"] if page["edges"] else None)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_connections_page_with_cursors_without_overlap_or_gaps(
    gateway: httpx.AsyncClient, world: World
) -> None:
    people = await _walk(gateway, world.cast.provider, world, "participants", "uuid")
    assert sorted(map(str, people)) == sorted(pid for ids in world.participants.values() for pid in ids)
    sequences = await _walk(gateway, world.cast.investor, world, "ledger", "sequence")
    assert sequences == list(range(1, len(sequences) + 1))
    assert len(sequences) > 3


async def test_a_page_size_out_of_range_is_a_clear_field_error(
    gateway: httpx.AsyncClient, world: World
) -> None:
    body = await gql(
        gateway,
        world.cast.provider,
        "query($id: ID!) { partnership(id: $id) { name participants(first: 501) { nodes { id } } } }",
        {"id": gid("Partnership", world.cast.partnership_id)},
    )
    assert body["data"]["partnership"]["participants"] is None
    assert body["data"]["partnership"]["name"]
    assert body["errors"][0]["extensions"]["code"] == "invalid-page-size"


async def test_a_statements_lines_are_read_only_when_asked_for(
    platform: Platform, gateway: httpx.AsyncClient, world: World
) -> None:
    """A dashboard listing statement totals does not carry hundreds of lines per statement through the
    gateway; asking for `lines` costs one batched read, and they are the service's own."""
    variables = {"id": gid("Partnership", world.cast.partnership_id)}
    totals = await gql(
        gateway,
        world.cast.provider,
        "query($id: ID!) { partnership(id: $id) { statements { id } } }",
        variables,
    )
    with_lines = await gql(
        gateway,
        world.cast.provider,
        "query($id: ID!) { partnership(id: $id) { statements { uuid lines { claimId amount } } } }",
        variables,
    )
    calls = totals["extensions"]["serviceCalls"]["outcomes"]
    assert with_lines["extensions"]["serviceCalls"]["outcomes"] == calls + 1
    [statement] = with_lines["data"]["partnership"]["statements"]
    async with new_client(base_url=platform.url("outcomes")) as outcomes:
        response = await outcomes.get(
            f"/v1/payment-statements/{statement['uuid']}", headers=world.cast.provider.headers
        )
    assert response.status_code == 200, response.text
    expected = [{"claimId": x["claim_id"], "amount": x["amount"]} for x in response.json()["lines"]]
    assert expected
    assert statement["lines"] == expected


async def test_each_ledger_event_names_the_organisation_that_acted(
    gateway: httpx.AsyncClient, world: World
) -> None:
    """Who acted travels in the CloudEvent's `data.actor` (issue 16); the graph still shows it to whoever
    sees the event in full. An investor receives person-level events sealed (issue 17): no actor there."""
    nodes = "ledger(first: 50) { nodes { type actorOrganisationId } }"
    query = "query($id: ID!) { partnership(id: $id) { " + nodes + " } }"
    body = await gql(
        gateway, world.cast.provider, query, {"id": gid("Partnership", world.cast.partnership_id)}
    )
    events = body["data"]["partnership"]["ledger"]["nodes"]
    assert events
    enrolled = [e for e in events if e["type"] == "dk.effekt.participant.enrolled"]
    assert enrolled
    assert {e["actorOrganisationId"] for e in enrolled} <= {
        str(world.cast.provider.organisation_id),
        str(world.cast.payer_a.organisation_id),
        str(world.cast.payer_b.organisation_id),
    }
    assert all(e["actorOrganisationId"] for e in events)
    body = await gql(
        gateway, world.cast.investor, query, {"id": gid("Partnership", world.cast.partnership_id)}
    )
    sealed = body["data"]["partnership"]["ledger"]["nodes"]
    assert len(sealed) == len(events)
    assert {e["type"] for e in sealed if e["actorOrganisationId"] is None} == {"dk.effekt.ledger.sealed"}
    assert not [e for e in sealed if e["type"].startswith(("dk.effekt.participant.", "dk.effekt.claim."))]
