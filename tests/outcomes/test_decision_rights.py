"""Deciding a claim is refused to whoever may not decide it, whatever state the claim is in: a repeated
decision replays only for a decider, and a refused transition tells a non-decider nothing new (found by
the authorisation matrix: the claimant's organisation got 200 by re-sending the payer's verification)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast
from tests.outcomes.support import TODAY, active_contract, claim, confirm, decide, employment_terms, enrol


async def test_the_claimant_cannot_replay_or_probe_a_decision_on_its_own_claim(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(7),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=30),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    made = await claim(outcomes, cast.provider, person["id"], "job_start", TODAY - timedelta(days=1))
    await decide(outcomes, cast.payer_a, made["id"], "verified")
    # The payer repeating its decision replays it; the claimant sending the same is refused.
    await decide(outcomes, cast.payer_a, made["id"], "verified")
    for actor in (cast.provider, cast.provider_member):
        for path in ("verification", "dispute-resolution"):
            refused = await decide(outcomes, actor, made["id"], "verified", path=path, status=403)
            assert refused["code"] == "own-claim-verification", refused
    # A partner that may read the claim but not decide it learns nothing of its state either.
    refused = await decide(
        outcomes, cast.evaluator, made["id"], "verified", path="dispute-resolution", status=403
    )
    assert refused["code"] == "not-allowed-to-verify", refused
