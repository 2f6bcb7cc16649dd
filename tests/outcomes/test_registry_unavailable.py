"""When the contract registry cannot be reached, writes that need its terms fail as a 503 problem and
change nothing."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.platform import free_port
from tests.outcomes.support import (
    TODAY,
    active_contract,
    employment_terms,
    enrol,
    ledger_head,
    outcomes_replica,
)


async def test_an_unreachable_registry_is_a_503_and_leaves_the_ledger_unchanged(
    platform: Platform,
    tmp_path_factory: pytest.TempPathFactory,
    cast: Cast,
    contracts: httpx.AsyncClient,
    outcomes: httpx.AsyncClient,
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    nowhere = {"OUTCOMES_CONTRACTS_URL": f"http://127.0.0.1:{free_port()}"}
    with outcomes_replica(platform, tmp_path_factory.mktemp("no-registry"), nowhere) as url:
        async with new_client(base_url=url, timeout=30.0) as cut_off:
            refused = await enrol(
                cut_off,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(1),
                municipality_code="657",
                enrolment_date=TODAY - timedelta(days=1),
                status=503,
            )
    assert refused["code"] == "contracts-unavailable"
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == 0
