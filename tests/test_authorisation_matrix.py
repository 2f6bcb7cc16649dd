"""The authorisation matrix: every REST operation every service documents by every caller kind, checked
against the one table in `tests/authorisation.py`.

The operations are walked from each service's own OpenAPI document, so a route added later fails
`test_the_table_names_every_documented_operation` until the table says who may call it. Each case sends one
real request with real ids from the module's own cast, and a valid body for the writes that validate it
before the caller's rights (`tests/matrix_scene.py`), and checks its class of answer:

- anonymous, expired and revoked tokens: 401 (public operations excepted);
- the outsider, whose organisation is in no partnership of the cast: 403 or 404 — never 2xx — except on
  operations that only ever answer with the caller's own rows, where the answer must not mention the
  partnership;
- each member role: not 401/403/404 when the table allows it, 403/404 (or an own-rows answer without the
  partnership in it) when it does not.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from services.contracts.app import create_app as contracts_app
from services.identity.app import create_app as identity_app
from services.outcomes.app import create_app as outcomes_app
from tests.actors import Cast, make_cast
from tests.authorisation import (
    CALLER_KINDS,
    NO_STANDING,
    Expectation,
    expectation_for,
    uncovered,
    unknown,
)
from tests.matrix_scene import build_scene, request_for

SERVICES: dict[str, Callable[[], FastAPI]] = {
    "identity": identity_app,
    "contracts": contracts_app,
    "outcomes": outcomes_app,
}
METHODS = ("get", "post", "put", "patch", "delete")
BATCH = 24  # requests in flight at once: the platform's four processes share two cores with others


def documented(name: str, document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`"service METHOD /path"`, the operation) for each operation of a service's document."""
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{name} {method.upper()} {path}", item[method]


def all_operations() -> dict[str, dict[str, Any]]:
    return {
        key: operation
        for name, create in SERVICES.items()
        for key, operation in documented(name, create().openapi())
    }


def test_the_table_names_every_documented_operation() -> None:
    operations = all_operations()
    assert len(operations) > 90  # the walk really read the three documents
    assert uncovered(operations) == set(), "operations the authorisation table does not mention"
    assert unknown(operations) == set(), "table entries for operations no service documents"


def test_an_operation_missing_from_the_table_fails_the_meta_test() -> None:
    """Proof the check above can fail: without one entry, exactly that operation is reported."""
    operations = all_operations()
    dropped = "outcomes GET /v1/outcome-claims/{claim_id}"
    assert uncovered(operations, without={dropped}) == {dropped}
    assert uncovered({**operations, "outcomes GET /v1/new-route": {}}) == {"outcomes GET /v1/new-route"}


@pytest.fixture(scope="module")
async def matrix_cast(platform: Platform) -> Cast:
    """A cast of the matrix's own: destructive cases (a disabled user, a deleted membership) stay here."""
    return await make_cast(platform)


def verdict(expectation: Expectation, caller: str, status: int, body: str, ids: dict[str, str]) -> str | None:
    """Why the answer is wrong for this caller kind, or None when it is of the expected class."""
    if expectation.client_auth:
        return None if 400 <= status < 500 else "a bearer token alone was taken for client credentials"
    if expectation.public:
        return None if 200 <= status < 300 else "a public operation refused the caller"
    if caller in NO_STANDING:
        return None if status == 401 else "no valid token, yet not 401"
    if caller in expectation.allowed:
        if status in (401, 403, 404) and status not in expectation.may_miss:
            return "allowed, yet refused"
        return None if status < 500 else "allowed, yet failed"
    if expectation.own_rows and 200 <= status < 300:
        return (
            None if ids[expectation.hidden] not in body else f"an own-rows answer shows {expectation.hidden}"
        )
    return None if status in expectation.refused else "not allowed, yet answered"


async def test_every_operation_answers_every_caller_kind_as_the_table_says(
    platform: Platform, matrix_cast: Cast
) -> None:
    limits = httpx.Limits(max_connections=BATCH)
    async with new_client(timeout=60, limits=limits) as client:
        scene = await build_scene(platform, matrix_cast, client)
        operations = {
            key: operation
            for name in SERVICES
            for key, operation in documented(
                name, (await client.get(platform.url(name) + "/openapi.json")).json()
            )
        }
        assert uncovered(operations) == set()
        # Deletions last, refused callers first, so no case loses its target to another.
        ordered = sorted(operations, key=lambda k: k.split()[1] == "DELETE")
        every_case = [(k, c) for k in ordered for c in CALLER_KINDS]
        cases = [
            (k, c)
            for k, c in every_case
            if not (expectation_for(k).spare_allowed and c in expectation_for(k).allowed)
        ]
        deletes = [(k, c) for k, c in cases if k.split()[1] == "DELETE"]
        deletes.sort(key=lambda kc: kc[1] in expectation_for(kc[0]).allowed)
        cases = [kc for kc in cases if kc not in deletes]
        results: list[tuple[str, str, int, str]] = []

        async def send(key: str, caller: str) -> tuple[str, str, int, str]:
            name, method, _ = key.split(" ", 2)
            path, kwargs = request_for(key, operations[key], scene)
            headers = {**scene.callers[caller], "Idempotency-Key": uuid.uuid4().hex}
            if method in ("PUT", "PATCH"):
                headers["If-Match"] = '"1"'
            url = platform.url(name) + path
            async with client.stream(method, url, headers=headers, **kwargs) as response:
                # An event stream that was let in never ends: its status line is the answer.
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    return key, caller, response.status_code, ""
                await response.aread()
                return key, caller, response.status_code, response.text[:2000]

        for index in range(0, len(cases), BATCH):
            results += await asyncio.gather(*(send(k, c) for k, c in cases[index : index + BATCH]))
        for key, caller in deletes:
            results.append(await send(key, caller))
    wrong = [
        f"{key} as {caller}: {status} ({why}) {body[:200]}"
        for key, caller, status, body in results
        if (why := verdict(expectation_for(key), caller, status, body, scene.ids))
    ]
    assert len(every_case) == len(operations) * len(CALLER_KINDS)
    assert len(every_case) - len(results) == 1  # the operator's key rotation, spared
    assert not wrong, "\n".join(wrong)
