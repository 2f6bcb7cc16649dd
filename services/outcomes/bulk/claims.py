"""A bulk file's claim lines, set-based: the claim rules' own checks (`claims.check_many`, one home for
each rule), then every accepted claim in one INSERT ... SELECT FROM unnest (no ORM object per claim,
which cost more CPU than the rules), and each claim's `claim.submitted` through the ledger as a single
claim's is (chained and written with the batch at commit).

Each line's claim id is chosen before its work (`Import`): its external reference is claimed with that
id as its result, so an accepted line needs no second write to its reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Problem
from services.outcomes.bulk.lines import ClaimLine
from services.outcomes.claims import service as claims
from services.outcomes.collaborators import Deps
from services.outcomes.schemas import ClaimCreate
from services.outcomes.states import ClaimStatus

# Bulk lines carry evidence by reference only: no document, media type or digest.
_INSERT_CLAIMS = text(
    """
    INSERT INTO outcome_claims (
        id, partnership_id, contract_id, participant_id, outcome_code, achievement_date,
        evidence_reference, claimant_organisation_id, claimed_by, claimed_contract_version_id, facts,
        payer_organisation_ids, status, disputed, version
    )
    SELECT c.id, c.partnership_id, c.contract_id, c.participant_id, c.outcome_code, c.achievement_date,
           c.evidence_reference, :organisation_id, :claimed_by, c.version_id, c.facts,
           CAST(c.payers AS uuid[]), :status, false, 1
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:partnerships AS uuid[]), CAST(:contracts AS uuid[]),
        CAST(:participants AS uuid[]), CAST(:codes AS text[]), CAST(:dates AS date[]),
        CAST(:references AS text[]), CAST(:versions AS uuid[]), CAST(:facts AS jsonb[]),
        CAST(:payers AS text[])
    ) AS c(id, partnership_id, contract_id, participant_id, outcome_code, achievement_date,
           evidence_reference, version_id, facts, payers)
    """
)


def _uuid_array(ids: Sequence[UUID]) -> str:
    return "{" + ",".join(str(i) for i in ids) + "}"


async def submit_lines(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID,
    lines: Sequence[ClaimLine],
    ids: Sequence[UUID],
    deps: Deps,
) -> list[UUID | Problem]:
    """Each claim line's claim (made with its id from `ids`), or the problem refusing it, in order."""
    # The line was validated as a `ClaimLine`, whose fields have the body's very types and bounds: built
    # without validating them again (a fifteenth of a claim file's samples on the event loop).
    bodies = [
        ClaimCreate.model_construct(
            participant_id=line.participant_id,
            outcome_code=line.outcome_code,
            achievement_date=line.achievement_date,
            evidence_reference=line.evidence_reference,
            facts=line.facts,
        )
        for line in lines
    ]
    checked = await claims.check_many(
        session,
        principal,
        bodies,
        deps,
        partnership_id=partnership_id,
        text_facts=[line.text_facts for line in lines],
    )
    made = [
        (claims.claim_columns(principal, c, claim_id), c)
        for c, claim_id in zip(checked, ids, strict=True)
        if isinstance(c, claims.Checked)
    ]
    if made:
        rows = [columns for columns, _ in made]
        await session.execute(
            _INSERT_CLAIMS,
            {
                "organisation_id": principal.organisation_id,
                "claimed_by": principal.subject,
                "status": ClaimStatus.CLAIMED.value,
                "ids": [r["id"] for r in rows],
                "partnerships": [r["partnership_id"] for r in rows],
                "contracts": [r["contract_id"] for r in rows],
                "participants": [r["participant_id"] for r in rows],
                "codes": [r["outcome_code"] for r in rows],
                "dates": [r["achievement_date"] for r in rows],
                "references": [r["evidence_reference"] for r in rows],
                "versions": [r["claimed_contract_version_id"] for r in rows],
                "facts": [None if r["facts"] is None else orjson.dumps(r["facts"]).decode() for r in rows],
                "payers": [_uuid_array(r["payer_organisation_ids"]) for r in rows],
            },
        )
    await claims.append_submitted(session, principal, made)
    return [
        claim_id if isinstance(c, claims.Checked) else c for c, claim_id in zip(checked, ids, strict=True)
    ]
