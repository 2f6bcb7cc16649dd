"""Every validation case is refused with a problem+json naming the problem, and leaves the ledger as is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from effekt.sandbox.cast import Cast
from effekt.sandbox.identifiers import synthetic_cpr
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
    ledger_head,
)

OLD = TODAY - timedelta(days=900)  # enrolled long ago: job_start's 730-day window has closed
RECENT = TODAY - timedelta(days=300)


@pytest.fixture
async def world(cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient) -> dict[str, Any]:
    terms = employment_terms(cast, max_participants=5)
    contract_id, _ = await active_contract(contracts, cast, terms)

    async def person(n: int, *, enrolled: Any = RECENT, eligible: bool = True) -> str:
        made = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(n),
            municipality_code="657",
            enrolment_date=enrolled,
        )
        if eligible:
            await confirm(outcomes, cast.payer_a, made["id"])
        return str(made["id"])

    ready, unconfirmed, veteran, leaver = (
        await person(1),
        await person(2, eligible=False),
        await person(3, enrolled=OLD),
        await person(4),
    )
    check(
        await outcomes.post(
            f"/v1/participants/{leaver}/exit",
            json={"exit_date": (RECENT + timedelta(days=10)).isoformat(), "reason": "Moved"},
            headers={**cast.provider.headers, **key()},
        ),
        200,
    )
    job = await claim(outcomes, cast.provider, ready, "job_start", RECENT + timedelta(days=20))
    return {
        "contract_id": contract_id,
        "ready": ready,
        "unconfirmed": unconfirmed,
        "veteran": veteran,
        "leaver": leaver,
        "job": job["id"],
    }


def enrolment(cast: Cast, world: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "partnership_id": str(cast.partnership_id),
        "contract_id": str(world["contract_id"]),
        "cpr": synthetic_cpr(7),
        "municipality_code": "657",
        "enrolment_date": RECENT.isoformat(),
        **overrides,
    }


def claim_body(world: dict[str, Any], who: str, code: str, achieved: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "participant_id": world[who],
        "outcome_code": code,
        "achievement_date": achieved.isoformat(),
        "evidence_reference": "eIndkomst",
        **overrides,
    }


Case = Callable[[Cast, dict[str, Any]], tuple[str, dict[str, Any]]]

CASES: list[tuple[str, Case, int, str, str | None]] = [
    # name, (path, body), status, code, the field named in invalid_params
    (
        "cpr-9-digits",
        lambda c, w: ("/v1/participants", enrolment(c, w, cpr="010190123")),
        422,
        "invalid-cpr",
        "body.cpr",
    ),
    (
        "cpr-not-a-date",
        lambda c, w: ("/v1/participants", enrolment(c, w, cpr="3102901234")),
        422,
        "invalid-cpr",
        "body.cpr",
    ),
    (
        "cpr-letters",
        lambda c, w: ("/v1/participants", enrolment(c, w, cpr="01019O1234")),
        422,
        "invalid-cpr",
        "body.cpr",
    ),
    (
        "enrolment-in-future",
        lambda c, w: (
            "/v1/participants",
            enrolment(c, w, enrolment_date=(TODAY + timedelta(days=1)).isoformat()),
        ),
        422,
        "validation-failed",
        "body.enrolment_date",
    ),
    (
        "enrolment-before-contract",
        lambda c, w: (
            "/v1/participants",
            enrolment(c, w, enrolment_date=(TODAY - timedelta(days=4000)).isoformat()),
        ),
        422,
        "no-version-in-force",
        "contract_id",
    ),
    (
        "bad-municipality-code",
        lambda c, w: ("/v1/participants", enrolment(c, w, municipality_code="65")),
        422,
        "validation-failed",
        "body.municipality_code",
    ),
    (
        "unknown-outcome",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "ready", "degree", RECENT)),
        422,
        "unknown-outcome",
        "body.outcome_code",
    ),
    (
        "not-eligible",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "unconfirmed", "job_start", RECENT)),
        422,
        "participant-not-eligible",
        "body.participant_id",
    ),
    (
        "after-exit",
        lambda c, w: (
            "/v1/outcome-claims",
            claim_body(w, "leaver", "job_start", RECENT + timedelta(days=11)),
        ),
        422,
        "participant-exited",
        "body.achievement_date",
    ),
    (
        "in-future",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "ready", "job_start", TODAY + timedelta(days=1))),
        422,
        "achievement-date-in-future",
        "body.achievement_date",
    ),
    (
        "before-enrolment",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "ready", "job_start", RECENT - timedelta(days=1))),
        422,
        "achievement-before-enrolment",
        "body.achievement_date",
    ),
    (
        "window-closed",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "veteran", "job_start", OLD + timedelta(days=731))),
        422,
        "outside-outcome-window",
        "body.achievement_date",
    ),
    (
        "prerequisite-unverified",
        lambda c, w: (
            "/v1/outcome-claims",
            claim_body(w, "ready", "employed_13w", RECENT + timedelta(days=120)),
        ),
        422,
        "prerequisite-not-verified",
        "body.outcome_code",
    ),
    (
        "per-participant-maximum",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "ready", "job_start", RECENT + timedelta(days=25))),
        422,
        "per-participant-maximum",
        "body.outcome_code",
    ),
    (
        "no-evidence",
        lambda c, w: (
            "/v1/outcome-claims",
            claim_body(w, "ready", "job_start", RECENT, evidence_reference=None),
        ),
        422,
        "evidence-missing",
        "body.evidence_reference",
    ),
    (
        "evidence-not-base64",
        lambda c, w: (
            "/v1/outcome-claims",
            claim_body(w, "ready", "job_start", RECENT, evidence_document_base64="%%%"),
        ),
        422,
        "validation-failed",
        "body.evidence_document_base64",
    ),
    (
        "nul-in-text",
        lambda c, w: (
            "/v1/outcome-claims",
            claim_body(w, "ready", "job_start", RECENT, evidence_reference="a\x00b"),
        ),
        422,
        "validation-failed",
        "body.evidence_reference",
    ),
    (
        "unknown-field",
        lambda c, w: ("/v1/outcome-claims", claim_body(w, "ready", "job_start", RECENT, price="1")),
        422,
        "validation-failed",
        "body.price",
    ),
    (
        "rejection-without-reason",
        lambda c, w: (f"/v1/outcome-claims/{w['job']}/verification", {"decision": "rejected"}),
        422,
        "validation-failed",
        "body.reason",
    ),
    (
        "dispute-before-rejection",
        lambda c, w: (f"/v1/outcome-claims/{w['job']}/dispute", {"reason": "Too early"}),
        409,
        "invalid-claim-transition",
        None,
    ),
    (
        "resolution-without-dispute",
        lambda c, w: (f"/v1/outcome-claims/{w['job']}/dispute-resolution", {"decision": "verified"}),
        409,
        "invalid-claim-transition",
        None,
    ),
    (
        "exit-before-enrolment",
        lambda c, w: (
            f"/v1/participants/{w['ready']}/exit",
            {"exit_date": (RECENT - timedelta(days=1)).isoformat(), "reason": "x"},
        ),
        422,
        "validation-failed",
        "body.exit_date",
    ),
    (
        "blank-exit-reason",
        lambda c, w: (
            f"/v1/participants/{w['ready']}/exit",
            {"exit_date": (RECENT + timedelta(days=30)).isoformat(), "reason": " \t "},
        ),
        422,
        "validation-failed",
        "body.reason",
    ),
    (
        "blank-rejection-reason",
        lambda c, w: (
            f"/v1/outcome-claims/{w['job']}/verification",
            {"decision": "rejected", "reason": "  "},
        ),
        422,
        "validation-failed",
        "body.reason",
    ),
    (
        "blank-dispute-reason",
        lambda c, w: (f"/v1/outcome-claims/{w['job']}/dispute", {"reason": "   "}),
        422,
        "validation-failed",
        "body.reason",
    ),
    (
        "statement-for-a-non-payer",
        lambda c, w: (
            "/v1/payment-statements",
            {
                "contract_id": str(w["contract_id"]),
                "payer_organisation_id": str(c.investor.organisation_id),
                "period_start": TODAY.isoformat(),
                "period_end": TODAY.isoformat(),
            },
        ),
        422,
        "validation-failed",
        "body.payer_organisation_id",
    ),
]


async def test_every_validation_case_is_refused_and_leaves_the_ledger_unchanged(
    cast: Cast, outcomes: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    before = await ledger_head(outcomes, cast.investor, cast.partnership_id)
    for name, case, status, code, field in CASES:
        path, body = case(cast, world)
        actor = cast.payer_a if "verification" in path or "resolution" in path else cast.provider
        response = await outcomes.post(path, json=body, headers={**actor.headers, **key()})
        problem = response.json()
        assert (response.status_code, problem["code"]) == (status, code), (name, problem)
        assert response.headers["content-type"] == "application/problem+json", name
        if field is not None:
            assert field in [p["name"] for p in problem["invalid_params"]], (name, problem)
        assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == before, name


async def test_the_same_person_cannot_enrol_twice_and_the_contract_cap_on_participants_holds(
    cast: Cast, outcomes: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    cpr = synthetic_cpr(11)
    await enrol(
        outcomes,
        cast.provider,
        cast,
        world["contract_id"],
        cpr,
        municipality_code="657",
        enrolment_date=RECENT,
    )
    before = await ledger_head(outcomes, cast.investor, cast.partnership_id)
    for form in (cpr, f"{cpr[:6]}-{cpr[6:]}"):
        twice = await enrol(
            outcomes,
            cast.provider,
            cast,
            world["contract_id"],
            form,
            municipality_code="791",
            enrolment_date=RECENT,
            status=409,
        )
        assert twice["code"] == "duplicate-participant"
    full = await enrol(
        outcomes,
        cast.provider,
        cast,
        world["contract_id"],
        synthetic_cpr(12),
        municipality_code="657",
        enrolment_date=RECENT,
        status=422,
    )
    assert full["code"] == "contract-full"  # max_participants is 5
    assert await ledger_head(outcomes, cast.investor, cast.partnership_id) == before


async def test_an_outcome_anchored_window_counts_from_the_verified_anchor(
    cast: Cast, outcomes: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    job_day = RECENT + timedelta(days=20)
    await decide(outcomes, cast.payer_a, world["job"], "verified")
    early = await claim(
        outcomes, cast.provider, world["ready"], "employed_13w", job_day + timedelta(days=90), status=422
    )
    assert early["code"] == "outside-outcome-window"
    late = await claim(
        outcomes, cast.provider, world["ready"], "employed_13w", job_day + timedelta(days=366), status=422
    )
    assert late["code"] in ("outside-outcome-window", "achievement-date-in-future")
    made = await claim(outcomes, cast.provider, world["ready"], "employed_13w", job_day + timedelta(days=91))
    assert made["status"] == "claimed"


async def test_if_match_guards_transitions(
    cast: Cast, outcomes: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    stale = await outcomes.post(
        f"/v1/outcome-claims/{world['job']}/verification",
        json={"decision": "verified"},
        headers={**cast.payer_a.headers, **key(), "If-Match": '"7"'},
    )
    assert (stale.status_code, stale.json()["code"]) == (412, "version-mismatch")
    current = await outcomes.get(f"/v1/outcome-claims/{world['job']}", headers=cast.payer_a.headers)
    fresh = await outcomes.post(
        f"/v1/outcome-claims/{world['job']}/verification",
        json={"decision": "verified"},
        headers={**cast.payer_a.headers, **key(), "If-Match": current.headers["etag"]},
    )
    assert fresh.status_code == 200
