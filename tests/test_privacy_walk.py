"""Investors, advisers and observers receive no person-level linkage: after a realistic scenario (people
enrolled in two municipalities, claims verified, rejected and disputed, an exit, a statement, a bulk import
and a webhook subscription of the investor's own), every GET operation each service documents in its
OpenAPI document, and every query of the investor's, the legal adviser's and an observer's GraphQL schema,
is called as each of them, and no answer holds a participant's pseudonym, a participant id or a claim id.

Only the stream is left out here (`NOT_WALKED`): it never ends; the ledger, feed, export and webhook
deliveries are walked, and give these audiences sealed stubs of person-level events. Of GraphQL, the
subscription and `node`/`nodes` are left out (`NOT_WALKED_FIELDS`): a node is what its typed field gives,
which tests/test_graphql_matrix.py checks caller by caller. Ids are looked for raw and as global ids.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from tests.gateway.support import World, build_world, gid, gql
from tests.outcomes.integrations.support import ndjson, post_bulk
from tests.outcomes.support import TODAY, check, claim, decide, key

SERVICES = ("identity", "contracts", "outcomes")
# A stream never ends, so a walk cannot read it whole; tests/outcomes/integrations/test_ledger_privacy.py
# reads the stream and the subscription as each audience and finds sealed stubs only.
STREAM = "a stream never ends; test_ledger_privacy.py reads it as each audience"
NOT_WALKED: dict[str, str] = {"outcomes GET /v1/feed/stream": STREAM}
NOT_WALKED_FIELDS: dict[str, str] = {
    "Subscription.ledgerEvents": STREAM,
    # One more unpaged list under every statement takes the walk's select-everything `partnerships` query
    # past the gateway's cost limit; it holds aggregates only (a cohort outcome's code, the cohort's label,
    # a period, an amount), and tests/outcomes/test_cohort_payments.py reads it as an investor.
    "Statement.cohorts": "aggregates only; read as an investor by test_cohort_payments.py",
    # Likewise (the walk's query is at the limit): a statement's lines are null for every audience walked
    # here (investors, advisers, observers read totals only), so this field is never read by them.
    "StatementLine.cohortCode": "lines are null for the audiences walked",
    # Any object by global id, through an interface whose members' same-named fields conflict in one
    # selection; each node is what its typed field gives (tests/test_graphql_matrix.py), walked there.
    "Query.node": "the typed fields' objects",
    "Query.nodes": "the typed fields' objects",
    # Likewise: an audit's totals on a statement (with their `suppressed`, the small-cell rule's), which
    # tests/outcomes/test_audits.py reads through GraphQL as an investor and finds withheld.
    "Statement.audits": "under the small-cell rule; read as an investor by test_audits.py",
}
DEPTH = 4


@pytest.fixture(scope="module")
async def scene(platform: Platform, shared_cast: Cast) -> tuple[World, dict[str, str], set[str]]:
    """The world (tests/gateway/support.py) carried further; the ids each path parameter takes; and every
    person-level value (pseudonyms, participant ids, claim ids)."""
    cast = shared_cast
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        world = await build_world(contracts, outcomes, cast)
        herning = world.participants["657"]
        check(
            await outcomes.post(
                f"/v1/participants/{herning[1]}/exit",
                json={"exit_date": TODAY.isoformat(), "reason": "moved away"},
                headers={**cast.provider.headers, **key()},
            ),
            200,
        )
        viborg = world.participants["791"][1]
        rejected = await claim(outcomes, cast.provider, viborg, "job_start", TODAY - timedelta(days=2))
        await decide(outcomes, cast.payer_b, rejected["id"], "rejected", reason="no payslip")
        check(
            await outcomes.post(
                f"/v1/outcome-claims/{rejected['id']}/dispute",
                json={"reason": "the payslip came late"},
                headers={**cast.provider.headers, **key()},
            ),
            200,
        )
        world.claims.append(rejected["id"])
        # The investor may not send a file at all (it writes no line kind), nor list anyone's imports.
        refused = await outcomes.post(
            f"/v1/partnerships/{cast.partnership_id}/bulk-imports",
            content=ndjson(
                [{"kind": "dispute", "external_reference": "i", "claim_id": world.claims[0], "reason": "x"}]
            ).encode(),
            headers={**cast.investor.headers, "Content-Type": "application/x-ndjson"},
        )
        assert refused.status_code == 403, refused.text
        # The provider's file names a person's claim: the walk asks for its import as each audience.
        (disputed,) = await post_bulk(
            outcomes,
            cast,
            ndjson(
                [{"kind": "dispute", "external_reference": "p", "claim_id": rejected["id"], "reason": "x"}]
            ),
        )
        assert disputed["result"] in ("accepted", "error"), disputed
        imports = check(
            await outcomes.get(
                f"/v1/partnerships/{cast.partnership_id}/bulk-imports", headers=cast.provider.headers
            ),
            200,
        )
        subscription = check(
            await outcomes.post(
                "/v1/webhook-subscriptions",
                json={"partnership_id": str(cast.partnership_id), "url": "https://hooks.example.dk/investor"},
                headers={**cast.investor.headers, **key()},
            ),
            201,
        )
        people = check(
            await outcomes.get(
                "/v1/participants",
                params={"partnership_id": str(cast.partnership_id), "limit": 100},
                headers=cast.provider.headers,
            ),
            200,
        )["items"]
        statement = check(
            await outcomes.get(
                "/v1/payment-statements",
                params={"contract_id": str(world.contract_id)},
                headers=cast.provider.headers,
            ),
            200,
        )["items"][0]
    person_level = {*world.claims, *(p["id"] for p in people), *(p["pseudonym"] for p in people)}
    assert len(person_level) == 2 * len(people) + len(world.claims) == 2 * 4 + 3
    # The gateway names them by global id too: neither form may reach these audiences.
    person_level |= {gid("Claim", c) for c in world.claims} | {gid("Participant", p["id"]) for p in people}
    ids = {
        "partnership_id": str(cast.partnership_id),
        "contract_id": str(world.contract_id),
        "version_id": str(world.version_id),
        "participant_id": herning[0],
        "claim_id": world.claims[0],
        "statement_id": statement["id"],
        "subscription_id": subscription["id"],
        "import_id": imports[0]["id"],
        # Person-level ids in every batch read: the answer must still name none.
        "ids": ",".join([*world.claims, *(p["id"] for p in people), statement["id"], str(world.version_id)]),
    }
    return world, ids, person_level


def _audiences(world: World) -> dict[str, Actor]:
    c = world.cast
    return {
        "investor": c.investor,
        "investor_machine": c.investor_machine,
        "adviser": c.adviser,
        "observer": c.observer,
    }


def _path_and_params(
    path: str, operation: dict[str, Any], ids: dict[str, str], actor: Actor
) -> tuple[str, dict[str, str]]:
    own = {"organisation_id": str(actor.organisation_id), "user_id": str(actor.user_id or uuid.uuid4())}
    values = {**ids, **own}
    params: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            path = path.replace("{" + name + "}", values.get(name, str(uuid.uuid4())))
        elif parameter["in"] == "query" and name in values:
            params[name] = values[name]
    return path, params


async def test_no_rest_read_gives_investors_advisers_or_observers_a_person(
    platform: Platform, scene: tuple[World, dict[str, str], set[str]]
) -> None:
    world, ids, person_level = scene
    leaks: list[str] = []
    reached: set[str] = set()  # who read the statement somewhere: the walk got past the refusals
    async with httpx.AsyncClient(timeout=60) as client:
        operations = [
            (f"{name} GET {path}", name, path, item["get"])
            for name in SERVICES
            for path, item in (await client.get(platform.url(name) + "/openapi.json")).json()["paths"].items()
            if "get" in item
        ]
        assert set(NOT_WALKED) <= {key for key, *_ in operations}, "a skipped read is no longer documented"

        async def read(
            who: str, actor: Actor, key: str, name: str, path: str, operation: dict[str, Any]
        ) -> None:
            concrete, params = _path_and_params(path, operation, ids, actor)
            response = await client.get(platform.url(name) + concrete, params=params, headers=actor.headers)
            assert response.status_code < 500, f"{key} as {who}: {response.status_code}"
            # A refusal's problem names the path the caller sent (`instance`): its own ids, not an answer.
            answer = response.text.replace(concrete, "")
            if response.status_code == 200 and ids["statement_id"] in answer:
                reached.add(who)
            if found := [x for x in person_level if x in answer]:
                leaks.append(f"{key} as {who}: {response.status_code} names {len(found)} person-level id(s)")

        todo = [
            (who, actor, *op)
            for who, actor in _audiences(world).items()
            for op in operations
            if op[0] not in NOT_WALKED
        ]
        walked = len(todo)
        for index in range(0, len(todo), 8):
            await asyncio.gather(*(read(*case) for case in todo[index : index + 8]))
    assert walked >= 4 * 40  # every documented read but the few left out, by four callers
    assert reached == set(_audiences(world))
    assert not leaks, "\n".join(sorted(leaks))


# --- the graph -------------------------------------------------------------------------------------------

INTROSPECTION = """
query { __schema { queryType { name } types { name kind
  fields { name args { name type { kind name ofType { kind name ofType { kind name } } } }
           type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
  possibleTypes { name } } } }
"""


def _named(type_ref: dict[str, Any]) -> tuple[str, str, bool]:
    """(kind, name, required) of a field's or argument's type, through lists and non-nulls."""
    required = type_ref["kind"] == "NON_NULL"
    while type_ref.get("ofType"):
        type_ref = type_ref["ofType"]
    return type_ref["kind"], type_ref["name"], required


class Walker:
    """Queries selecting every field of the schema reachable from one root field, to `DEPTH`, with the
    arguments an id or a page size fills."""

    def __init__(self, schema: dict[str, Any], ids: dict[str, str]) -> None:
        self.types = {t["name"]: t for t in schema["types"]}
        self.ids = ids

    def _argument(self, name: str, kind: str, type_name: str) -> str | None:
        # Global ids (the gateway's `ID!` arguments): `id` is the partnership's, so `node(id:)` walks it too.
        by_name = {
            "id": gid("Partnership", self.ids["partnership_id"]),
            "partnershipId": gid("Partnership", self.ids["partnership_id"]),
            "contractId": gid("Contract", self.ids["contract_id"]),
            "versionId": gid("ContractVersion", self.ids["version_id"]),
            "participantId": gid("Participant", self.ids["participant_id"]),
            "claimId": gid("Claim", self.ids["claim_id"]),
        }
        if name in by_name:
            return f'"{by_name[name]}"'
        if name in ("first", "last") and type_name == "Int":
            return "2"  # more than one row per list, within the cost limit with both `id` and `uuid`
        return None

    def select(self, type_name: str, depth: int) -> str:
        definition = self.types[type_name]
        if definition["kind"] in ("UNION", "INTERFACE"):
            members = [
                f"... on {p['name']} {{ {self.select(p['name'], depth)} }}"
                for p in definition["possibleTypes"] or []
            ]
            return " ".join(["__typename", *members])
        fields = (self.field(type_name, f, depth) for f in definition["fields"] or [])
        return " ".join(["__typename", *(f for f in fields if f)])

    def field(self, type_name: str, field: dict[str, Any], depth: int) -> str | None:
        """One field's selection, or None when it is left out, needs an argument we cannot fill, or lies
        deeper than `DEPTH`."""
        if f"{type_name}.{field['name']}" in NOT_WALKED_FIELDS:
            return None
        kind, name, _ = _named(field["type"])
        arguments = []
        for arg in field["args"]:
            arg_kind, arg_type, required = _named(arg["type"])
            value = self._argument(arg["name"], arg_kind, arg_type)
            if value is not None:
                arguments.append(f"{arg['name']}: {value}")
            elif required:
                return None
        call = str(field["name"]) + (f"({', '.join(arguments)})" if arguments else "")
        if kind in ("SCALAR", "ENUM"):
            return call
        return f"{call} {{ {self.select(name, depth - 1)} }}" if depth > 0 else None

    def root_queries(self, root: str) -> dict[str, str]:
        """A query per root field of `root`."""
        return {
            f["name"]: "query { " + selection + " }"
            for f in self.types[root]["fields"]
            if (selection := self.field(root, f, DEPTH))
        }


async def test_no_graphql_query_gives_investors_advisers_or_observers_a_person(
    gateway: httpx.AsyncClient, scene: tuple[World, dict[str, str], set[str]]
) -> None:
    world, ids, person_level = scene
    leaks: list[str] = []
    reached: set[str] = set()
    walked = 0
    # The observer's organisation is a provider: its schema has people, its membership sees none.
    for who, actor in {
        "investor": world.cast.investor,
        "adviser": world.cast.adviser,
        "observer": world.cast.observer,
    }.items():
        schema = (await gql(gateway, actor, INTROSPECTION))["data"]["__schema"]
        walker = Walker(schema, ids)
        queries = walker.root_queries(schema["queryType"]["name"])
        assert {"me", "partnership", "partnerships"} <= set(queries), who
        for field, query in queries.items():
            body = await gql(gateway, actor, query)
            assert "data" in body, (who, field, body)
            walked += 1
            text = str(body["data"])
            if ids["statement_id"] in text:
                reached.add(who)
            if found := [x for x in person_level if x in text]:
                leaks.append(f"Query.{field} as {who}: names {len(found)} person-level id(s)")
    assert walked >= 3 * 4
    assert reached == {"investor", "adviser", "observer"}  # the walk read their statements' totals
    assert not leaks, "\n".join(leaks)
