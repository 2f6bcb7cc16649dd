"""No CPR number reaches any service's log, however a client sends it: inline in a valid, an invalid or an
unparseable document, in variables, as the operation name, as a trusted-document id, in headers, over the
WebSocket, in a GET query string, or straight at a service's REST API. The run has its own platform and
log directory, so no other test's lines are scanned (or blamed).

The document's text must not be logged either: a marker word that is not CPR-shaped rides along with the
numbers, so a leak is caught even where a last-line redaction would hide the digits.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import websockets

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast, make_cast
from tests.gateway.support import gid
from tests.outcomes.support import TODAY, active_contract, employment_terms
from tests.platform import running_platform

WAIT = 30.0

# One number per run: the serial part is random, so no earlier run's lines (or a real person) match.
CPR = synthetic_cpr(0, born=date(1973, 4, 29))
DASHED = f"{CPR[:6]}-{CPR[6:]}"
MARKER = f"Lognote{secrets.token_hex(6)}"


@pytest.fixture(scope="module")
def private_platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(pg_server_url, tmp_path_factory.mktemp("private-logs")) as running:
        yield running


@pytest.fixture(scope="module")
async def private_cast(private_platform: Platform) -> Cast:
    return await make_cast(private_platform)


@pytest.fixture
async def gateway_client(private_platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(base_url=private_platform.url("gateway"), timeout=WAIT) as client:
        yield client


def _enrol(cpr: str, cast: Cast, contract_id: str, *, name: str = "Enrol") -> str:
    partnership = gid("Partnership", cast.partnership_id)
    return (
        f'mutation {name} {{ enrolParticipant(input: {{partnershipId: "{partnership}", '
        f'contractId: "{contract_id}", cpr: "{cpr}", municipalityCode: "657", '
        f'enrolmentDate: "{TODAY - timedelta(days=5)}", cohort: "{MARKER}"}}) '
        "{ __typename ... on Participant { id } ... on MutationError { code } } }"
    )


def _http_cases(cast: Cast, contract_id: str) -> list[dict[str, Any]]:
    """Request bodies, each carrying the number (plain or dashed) and, where text is free, the marker."""
    enrol_by_variables = (
        "mutation EnrolByVariables($input: EnrolParticipantInput!) { enrolParticipant(input: $input) "
        "{ __typename ... on Participant { id } ... on MutationError { code } } }"
    )
    variables = {
        "input": {
            "partnershipId": gid("Partnership", cast.partnership_id),
            "contractId": contract_id,
            "cpr": DASHED,
            "municipalityCode": "791",
            "enrolmentDate": str(TODAY - timedelta(days=4)),
            "cohort": MARKER,
        }
    }
    return [
        # Valid documents that run: the number goes to the outcome service and is turned into a pseudonym.
        {"query": _enrol(CPR, cast, contract_id)},
        {"query": enrol_by_variables, "variables": variables},
        # Valid documents whose variables fail to coerce (the message would quote the value).
        {
            "query": "query Page($n: Int) { partnerships(first: $n) { nodes { id } } }",
            "variables": {"n": int(CPR)},
        },
        {"query": "query One($id: ID!) { partnership(id: $id) { name } }", "variables": {"id": DASHED}},
        {"query": enrol_by_variables, "variables": {"input": {**variables["input"], "cpr": int(CPR)}}},
        # Invalid documents with the number inline: wrong types, unknown arguments and fields.
        {"query": f"query Page {{ partnerships(first: {CPR}) {{ nodes {{ id }} }} }}"},
        {"query": f'query One {{ partnership(id: "{DASHED}") {{ name }} }}'},
        {"query": f'query Me {{ me(cpr: "{CPR}", note: "{MARKER}") {{ subject }} }}'},
        {"query": f"query Me {{ me {{ subject _{CPR} }} }}"},
        {"query": _enrol(CPR, cast, contract_id).replace(f'cpr: "{CPR}"', f"cpr: {CPR}")},
        # Unparseable documents.
        {"query": f'query Me {{ me {{ subject {CPR} "{MARKER}" }}'},
        {"query": f'"{DASHED}" {MARKER} {{'},
        # The operation name: not a Name at all, a Name that is the number, a document's own name.
        {"query": "query Me { me { subject } }", "operationName": CPR},
        {"query": "query Me { me { subject } }", "operationName": DASHED},
        {"query": "query Me { me { subject } }", "operationName": f"_{CPR}"},
        {"query": f"query _{CPR} {{ me {{ subject }} }} query Other {{ me {{ kind }} }}"},
        {"query": f"query _{CPR} {{ me {{ nothing }} }}"},
        # Trusted-document ids, both spellings.
        {"extensions": {"documentId": f"sha256:{CPR}"}},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": DASHED}}},
        {"query": "query Me { me { subject } }", "extensions": {"documentId": CPR, "note": MARKER}},
        # Bodies of the wrong shape.
        {"query": int(CPR)},
        {"query": "query Me { me { subject } }", "variables": [CPR, MARKER]},
        {"query": "query Me { me { subject } }", "operationName": int(CPR)},
    ]


def _header_sets(cast: Cast) -> list[dict[str, str]]:
    return [
        {**cast.provider.headers, "X-Request-ID": CPR},
        {**cast.provider.headers, "X-Request-ID": DASHED},
        {**cast.provider.headers, "X-Request-ID": f"case-{DASHED}"},
        {**cast.provider.headers, "User-Agent": f"{MARKER} {CPR}", "X-CPR": DASHED, "Referer": CPR},
        {"Authorization": f"Bearer {CPR}"},
        {"Authorization": DASHED},
    ]


async def _websocket_cases(platform: Platform, cast: Cast) -> None:
    url = platform.url("gateway").replace("http://", "ws://") + "/graphql"
    subscribe = "subscription Ledger($id: ID!) { ledgerEvents(partnershipId: $id) { sequence } }"
    payloads: list[dict[str, Any]] = [
        {"query": f'subscription Ledger {{ ledgerEvents(partnershipId: "{DASHED}") {{ sequence }} }}'},
        {"query": subscribe, "variables": {"id": CPR, "note": MARKER}},
        {
            "query": subscribe,
            "variables": {"id": gid("Partnership", cast.partnership_id)},
            "operationName": CPR,
        },
        {"query": f"subscription {{ ledgerEvents {{ {CPR} }}"},
        {"query": subscribe, "extensions": {"documentId": f"sha256:{CPR}"}},
    ]
    inits: list[dict[str, Any]] = [
        {"Authorization": f"Bearer {CPR}", "cpr": DASHED},
        {"Authorization": f"Bearer {cast.provider.token}", "cpr": CPR, "note": MARKER},
    ]
    for init in inits:
        for payload in payloads:
            async with websockets.connect(f"{url}?cpr={DASHED}", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": init}))
                try:
                    ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                    assert ack["type"] == "connection_ack", ack
                    await ws.send(json.dumps({"id": CPR, "type": "subscribe", "payload": payload}))
                    await asyncio.wait_for(ws.recv(), WAIT)
                except websockets.ConnectionClosed:
                    pass  # refused (the bad token, or a close for an unparseable document): what we wanted
            if "cpr" in init and init["Authorization"] == f"Bearer {CPR}":
                break  # a refused socket runs no operation: one try is enough


async def test_no_cpr_number_reaches_any_log(
    private_platform: Platform, private_cast: Cast, gateway_client: httpx.AsyncClient
) -> None:
    cast = private_cast
    async with new_client(base_url=private_platform.url("contracts"), timeout=WAIT) as contracts:
        contract, _ = await active_contract(contracts, cast, employment_terms(cast))
    accept = {"Accept": "application/graphql-response+json"}
    answers = []
    for body in _http_cases(cast, gid("Contract", contract)):
        answers.append(
            await gateway_client.post("/graphql", json=body, headers={**cast.provider.headers, **accept})
        )
    # The valid documents ran: the number reached the outcome service (the second, the same person, is refused
    # there as already enrolled).
    assert answers[0].json()["data"]["enrolParticipant"]["__typename"] == "Participant", answers[0].text
    assert "errors" not in answers[1].json(), answers[1].text
    for headers in _header_sets(cast):
        await gateway_client.post("/graphql", json={"query": "query Me { me { subject } }"}, headers=headers)
    for params in (
        {"query": f'query Me {{ me(cpr: "{CPR}") {{ subject }} }}', "operationName": DASHED},
        {"query": "query Me { me { subject } }", "variables": json.dumps({"cpr": CPR, "note": MARKER})},
        {"query": f"mutation {{ {CPR} }}"},
    ):
        await gateway_client.get("/graphql", params=params, headers=cast.provider.headers)
        await gateway_client.get("/graphql", params=params)
    await _websocket_cases(private_platform, cast)
    # Straight at the services' REST APIs: bodies that fail validation, paths, query strings, headers.
    for name, path in (
        ("outcomes", "/v1/participants"),
        ("contracts", "/v1/contracts"),
        ("identity", "/v1/organisations"),
    ):
        async with new_client(base_url=private_platform.url(name), timeout=WAIT) as service:
            headers = {**cast.provider.headers, "X-Request-ID": DASHED}
            await service.post(path, json={"cpr": int(CPR), "name": DASHED, "note": MARKER}, headers=headers)
            await service.post(path, content=f'{{"cpr": "{CPR}", {MARKER}', headers=headers)
            await service.get(f"{path}/{CPR}", headers=headers)
            await service.get(path, params={"cpr": DASHED, "ids": CPR}, headers=headers)

    private_platform.stop()  # flushes and closes every log
    logs = {
        path.name: path.read_text(errors="replace") for path in sorted(private_platform.log_dir.glob("*.log"))
    }
    assert set(logs) == {"gateway.log", "identity.log", "contracts.log", "outcomes.log"}
    assert all(logs.values()), "every service wrote its log"
    found = {
        (name, needle): [line[:300] for line in text.splitlines() if needle in line][:3]
        for name, text in logs.items()
        for needle in (CPR, DASHED, MARKER)
        if needle in text
    }
    assert found == {}
