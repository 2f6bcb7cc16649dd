"""Rotating the pseudonym secret: a replica started with a new secret version pseudonymises new enrolments
under it, still finds people enrolled under the old version, and still decrypts their municipal
references."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.http import new_client
from effekt.sandbox.identifiers import synthetic_cpr
from kit.settings import DEV_SECRET
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    confirm,
    employment_terms,
    enrol,
    outcomes_replica,
)


@pytest.fixture(scope="module")
def rotated(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second outcomes process on the same database, with secret version 2 and version 1 retired."""
    env = {
        "OUTCOMES_SECRET_KEY": "a-rotated-secret-of-plenty-length-2026",
        "OUTCOMES_SECRET_KEY_VERSION": "2",
        "OUTCOMES_PREVIOUS_SECRET_KEYS": json.dumps({"1": DEV_SECRET}),
    }
    with outcomes_replica(platform, tmp_path_factory.mktemp("rotated"), env) as url:
        yield url


async def test_after_rotation_old_participants_are_still_found_and_readable(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, rotated: str
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    day = TODAY - timedelta(days=5)
    old_cpr, new_cpr = synthetic_cpr(1), synthetic_cpr(2)
    before = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        old_cpr,
        municipality_code="657",
        enrolment_date=day,
        municipal_reference="HER-2026-1",
    )
    assert before["key_version"] == 1
    async with new_client(base_url=rotated, timeout=30.0) as after_rotation:
        after = await enrol(
            after_rotation,
            cast.provider,
            cast,
            contract_id,
            new_cpr,
            municipality_code="657",
            enrolment_date=day,
        )
        assert after["key_version"] == 2
        duplicates = await asyncio.gather(
            *(
                enrol(
                    after_rotation,
                    cast.provider,
                    cast,
                    contract_id,
                    cpr,
                    municipality_code="657",
                    enrolment_date=day,
                    status=409,
                )
                for cpr in (old_cpr, new_cpr)
            )
        )
        assert {d["code"] for d in duplicates} == {"duplicate-participant"}
        await confirm(after_rotation, cast.payer_a, before["id"])
        read = check(
            await after_rotation.get(f"/v1/participants/{before['id']}", headers=cast.payer_a.headers), 200
        )
        assert (read["municipal_reference"], read["key_version"]) == ("HER-2026-1", 1)
    # The original process (which knows only version 1) still refuses the person enrolled under version 1.
    again = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        old_cpr,
        municipality_code="657",
        enrolment_date=day,
        status=409,
    )
    assert again["code"] == "duplicate-participant"
