"""A downstream service that is down yields a partial result: the fields it backs are null with an error
naming the service on their path, everything else is answered, and a write returns `Unavailable`.

The gateway runs in-process here, configured with the real identity and contracts and an outcome service
address where nothing listens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.platform import free_port
from gateway.app import create_app
from gateway.settings import Settings
from tests.gateway.support import gid, gql


@pytest.fixture(scope="module")
def cast_here(shared_cast: Cast) -> Cast:
    return shared_cast


@pytest.fixture
async def gateway_without_outcomes(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environment="test",
        issuer=platform.env["GATEWAY_ISSUER"],
        jwks_url=platform.env["GATEWAY_JWKS_URL"],
        identity_url=platform.url("identity"),
        contracts_url=platform.url("contracts"),
        outcomes_url=f"http://127.0.0.1:{free_port()}",
        downstream_timeout=5.0,
        log_json=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


QUERY = """
query($id: ID!) {
  partnership(id: $id) {
    name
    members { role }
    contracts { title }
    outcomeSummary { enrolled }
    participants(first: 5) { edges { node { id } } }
    ledgerStatus { valid }
  }
}
"""


async def test_fields_backed_by_a_down_service_are_null_with_an_error_and_the_rest_answers(
    gateway_without_outcomes: httpx.AsyncClient, cast_here: Cast
) -> None:
    body = await gql(
        gateway_without_outcomes,
        cast_here.provider,
        QUERY,
        {"id": gid("Partnership", cast_here.partnership_id)},
    )
    partnership = body["data"]["partnership"]
    assert partnership["name"].startswith("Job First")
    assert len(partnership["members"]) == 7
    assert partnership["contracts"] == []
    down = ("outcomeSummary", "participants", "ledgerStatus")
    assert all(partnership[name] is None for name in down)
    errors = {tuple(e["path"]): e["extensions"] for e in body["errors"]}
    assert set(errors) == {("partnership", name) for name in down}
    for extensions in errors.values():
        assert extensions["code"] == "service-unavailable"
        assert extensions["service"] == "outcomes"
        assert extensions["request_id"]


async def test_a_write_to_a_down_service_is_an_unavailable_result(
    gateway_without_outcomes: httpx.AsyncClient, cast_here: Cast
) -> None:
    body = await gql(
        gateway_without_outcomes,
        cast_here.provider,
        """mutation($id: ID!) {
             exitParticipant(participantId: $id, exitDate: "2026-01-01", reason: "moved") {
               __typename ... on Unavailable { code service } } }""",
        {"id": gid("Participant", UUID(int=1))},
    )
    assert body["data"]["exitParticipant"] == {
        "__typename": "Unavailable",
        "code": "service-unavailable",
        "service": "outcomes",
    }
