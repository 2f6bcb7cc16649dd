"""Outcome claims as partners see them: a participant achieved an outcome, with its evidence; the claim's
verification (and so its price), rejection, dispute and the dispute's resolution. Backed by the outcome
service; which partner type sees these types and fields is policy.py's call.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway import policy
from gateway.clients.outcomes import ClaimRow, CutRow, PayerShareRow
from gateway.context import Context
from gateway.participants import Participant
from gateway.relay import Connection, GlobalNode, check_first, from_page, uuid_of
from gateway.results import ExpectedVersion, IdempotencyKey, Result, attempt
from gateway.rows import from_row
from kit.pagination import Page, encode_cursor


@strawberry.type(description="Who proves an outcome, and how (never shown to evaluators or investors).")
class Evidence:
    reference: str | None
    sha256: str | None
    media_type: str | None
    has_document: bool


@strawberry.type
class PayerShare:
    payer_organisation_id: UUID
    tariff_share: Decimal
    amount: Decimal

    @classmethod
    def from_row(cls, row: PayerShareRow) -> PayerShare:
        return from_row(cls, row)


@strawberry.type(description="What a cap cut from a claim's price, and which cap (`per_payer:<id>` …).")
class CapCut:
    cap: str
    amount: Decimal

    @classmethod
    def from_row(cls, row: CutRow) -> CapCut:
        return from_row(cls, row)


@strawberry.enum(description="Where a claim stands: claimed, then verified or rejected (then disputed).")
class ClaimStatus(enum.Enum):
    CLAIMED = "claimed"
    VERIFIED = "verified"
    REJECTED = "rejected"
    DISPUTED = "disputed"


@strawberry.type(description="A claim that a participant achieved an outcome, and its verification.")
class Claim(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    partnership_id: UUID
    contract_id: UUID
    participant_id: UUID
    outcome_code: str
    achievement_date: date
    status: ClaimStatus
    final: bool
    disputed: bool
    reason: str | None
    dispute_reason: str | None
    decided_at: datetime | None
    verifier_organisation_id: UUID | None
    claimant_organisation_id: UUID
    facts: JSON | None = strawberry.field(description="What the claim reported (person-level data).")
    currency: str | None
    tariff: Decimal | None
    payable: Decimal | None
    cut: Decimal | None
    cut_reasons: list[CapCut] | None
    band: str | None = strawberry.field(description="The band pricing chose from the claim's facts.")
    tier: int | None = strawberry.field(description="The volume tier it was priced in, from 0.")
    payment_period: str | None
    split: list[PayerShare] | None
    version: int
    created_at: datetime
    row: strawberry.Private[ClaimRow]

    @classmethod
    def from_row(cls, row: ClaimRow) -> Claim:
        return from_row(cls, row, final=bool(row.final), disputed=bool(row.disputed), row=row)

    @strawberry.field
    def evidence(self) -> Evidence:
        return Evidence(
            reference=self.row.evidence_reference,
            sha256=self.row.evidence_sha256,
            media_type=self.row.evidence_media_type,
            has_document=bool(self.row.has_evidence_document),
        )

    @strawberry.field
    async def participant(self, info: Info[Context, None]) -> Participant | None:
        row = await info.context.loaders.participant.load(self.participant_id)
        return Participant.from_row(row) if row else None


def _cursor(node: Claim) -> str:
    return encode_cursor(node.uuid)


async def claims_page(
    info: Info[Context, None], partnership_id: UUID, first: int, after: str | None, status: ClaimStatus | None
) -> Connection[Claim]:
    if not policy.rows_visible(info.context.roles_in(partnership_id), "Claim"):
        return from_page(Page[ClaimRow](items=[]), Claim.from_row, _cursor)
    page = await info.context.services.outcomes.claims_page(
        partnership_id, limit=check_first(first), cursor=after, status=status.value if status else None
    )
    return from_page(page, Claim.from_row, _cursor, after=after)


# --- mutations ---------------------------------------------------------------------------------------------


@strawberry.input
class SubmitClaimInput:
    participant_id: relay.GlobalID
    outcome_code: str
    achievement_date: date
    evidence_reference: str | None = None
    evidence_document_base64: str | None = None
    evidence_media_type: str | None = None
    facts: JSON | None = strawberry.field(
        default=None, description='What the claim reports, as the terms declare (`{"hours_per_week": "37"}`).'
    )


@strawberry.enum
class ClaimDecision(enum.Enum):
    VERIFIED = "verified"
    REJECTED = "rejected"


@strawberry.type
class ClaimMutation:
    @strawberry.mutation(description="Claim that a participant achieved an outcome.")
    async def submit_claim(
        self, info: Info[Context, None], input: SubmitClaimInput, idempotency_key: IdempotencyKey = None
    ) -> Result[Claim]:
        call = info.context.services.outcomes.submit_claim(
            participant_id=uuid_of(input.participant_id, "Participant", field="input.participant_id"),
            outcome_code=input.outcome_code,
            achievement_date=input.achievement_date,
            evidence_reference=input.evidence_reference,
            evidence_document_base64=input.evidence_document_base64,
            evidence_media_type=input.evidence_media_type,
            idempotency_key=idempotency_key,
            facts=cast(dict[str, Any] | None, input.facts),
        )
        return await attempt(call, Claim.from_row, body="input")

    @strawberry.mutation(description="Verify (and so price) or reject a claim.")
    async def verify_claim(
        self,
        info: Info[Context, None],
        claim_id: relay.GlobalID,
        decision: ClaimDecision,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Claim]:
        call = info.context.services.outcomes.verify_claim(
            uuid_of(claim_id, "Claim", field="claim_id"),
            decision=decision.value,
            reason=reason,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Claim.from_row)

    @strawberry.mutation(description="Dispute a rejected claim (once).")
    async def dispute_claim(
        self,
        info: Info[Context, None],
        claim_id: relay.GlobalID,
        reason: str,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Claim]:
        call = info.context.services.outcomes.dispute_claim(
            uuid_of(claim_id, "Claim", field="claim_id"),
            reason=reason,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Claim.from_row)

    @strawberry.mutation(description="As the outcome payer, resolve a dispute: verified or finally rejected.")
    async def resolve_dispute(
        self,
        info: Info[Context, None],
        claim_id: relay.GlobalID,
        decision: ClaimDecision,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Claim]:
        call = info.context.services.outcomes.resolve_dispute(
            uuid_of(claim_id, "Claim", field="claim_id"),
            decision=decision.value,
            reason=reason,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Claim.from_row)
