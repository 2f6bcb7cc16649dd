"""Outcomes as partners see them: participants (pseudonyms only), claims and their verification, payment
statements, the outcome summary and the hash-chained ledger. Backed by the outcome service.

Which partner type sees which of these types and fields is policy.py's call; the outcome service applies
the same rules to rows (a payer sees only participants resident in its municipality).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway import policy
from gateway.context import Context
from gateway.relay import Connection, check_first, from_page
from gateway.results import (
    Conflict,
    InvalidInput,
    NotFound,
    NotPermitted,
    RuleViolation,
    Unavailable,
    attempt,
    write_headers,
)
from kit.pagination import encode_cursor

Row = dict[str, Any]


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _money(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


# --- participants and claims ------------------------------------------------------------------------------


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


@strawberry.type(description="A claim that a participant achieved an outcome, and its verification.")
class Claim:
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    participant_id: UUID
    outcome_code: str
    achievement_date: date
    status: str
    final: bool
    disputed: bool
    reason: str | None
    dispute_reason: str | None
    decided_at: datetime | None
    verifier_organisation_id: UUID | None
    claimant_organisation_id: UUID
    currency: str | None
    tariff: Decimal | None
    payable: Decimal | None
    cut: Decimal | None
    payment_period: str | None
    split: list[PayerShare] | None
    version: int
    created_at: datetime
    row: strawberry.Private[Row]

    @classmethod
    def from_row(cls, row: Row) -> Claim:
        return cls(
            id=UUID(row["id"]),
            partnership_id=UUID(row["partnership_id"]),
            contract_id=UUID(row["contract_id"]),
            participant_id=UUID(row["participant_id"]),
            outcome_code=row["outcome_code"],
            achievement_date=date.fromisoformat(row["achievement_date"]),
            status=row["status"],
            final=bool(row.get("final")),
            disputed=bool(row.get("disputed")),
            reason=row.get("reason"),
            dispute_reason=row.get("dispute_reason"),
            decided_at=_time(row.get("decided_at")),
            verifier_organisation_id=UUID(row["verifier_organisation_id"])
            if row.get("verifier_organisation_id")
            else None,
            claimant_organisation_id=UUID(row["claimant_organisation_id"]),
            currency=row.get("currency"),
            tariff=_money(row.get("tariff")),
            payable=_money(row.get("payable")),
            cut=_money(row.get("cut")),
            payment_period=row.get("payment_period"),
            split=[
                PayerShare(
                    payer_organisation_id=UUID(s["payer_organisation_id"]),
                    tariff_share=Decimal(s["tariff_share"]),
                    amount=Decimal(s["amount"]),
                )
                for s in row["split"]
            ]
            if row.get("split") is not None
            else None,
            version=int(row["version"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            row=row,
        )

    @strawberry.field
    def evidence(self) -> Evidence:
        return Evidence(
            reference=self.row.get("evidence_reference"),
            sha256=self.row.get("evidence_sha256"),
            media_type=self.row.get("evidence_media_type"),
            has_document=bool(self.row.get("has_evidence_document")),
        )

    @strawberry.field
    async def participant(self, info: Info[Context, None]) -> Participant | None:
        row = await info.context.loaders.participant.load(self.participant_id)
        return Participant.from_row(row) if row else None


@strawberry.type(description="A participant, known only by pseudonym.")
class Participant:
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    pseudonym: str
    municipality_code: str
    enrolment_date: date
    cohort: str | None
    eligibility_confirmed_at: datetime | None
    exit_date: date | None
    exit_reason: str | None
    version: int
    created_at: datetime
    row: strawberry.Private[Row]

    @classmethod
    def from_row(cls, row: Row) -> Participant:
        return cls(
            id=UUID(row["id"]),
            partnership_id=UUID(row["partnership_id"]),
            contract_id=UUID(row["contract_id"]),
            pseudonym=row["pseudonym"],
            municipality_code=row["municipality_code"],
            enrolment_date=date.fromisoformat(row["enrolment_date"]),
            cohort=row.get("cohort"),
            eligibility_confirmed_at=_time(row.get("eligibility_confirmed_at")),
            exit_date=_date(row.get("exit_date")),
            exit_reason=row.get("exit_reason"),
            version=int(row["version"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            row=row,
        )

    @strawberry.field(description="The municipality of residence's own case reference.")
    def municipal_reference(self) -> str | None:
        value = self.row.get("municipal_reference")
        return str(value) if value is not None else None

    @strawberry.field(description="This participant's claims (one read of the partnership's claims).")
    async def claims(self, info: Info[Context, None]) -> list[Claim]:
        rows = await info.context.loaders.claims_of_participant(self.partnership_id, self.id)
        return [Claim.from_row(r) for r in rows]


def _cursor(node: Participant | Claim) -> str:
    return encode_cursor(node.id)


async def participants_page(
    info: Info[Context, None], partnership_id: UUID, first: int, after: str | None
) -> Connection[Participant]:
    if not policy.rows_visible(info.context.roles_in(partnership_id), "Participant"):
        return from_page({}, Participant.from_row, _cursor)
    params = {"partnership_id": str(partnership_id), "limit": str(check_first(first))}
    if after:
        params["cursor"] = after
    page = await info.context.services.outcomes.get("/v1/participants", params)
    connection = from_page(page, Participant.from_row, _cursor)
    for edge in connection.edges:  # later `participant(id)` loads in this request are free
        info.context.loaders.participant.prime(edge.node.id, edge.node.row)
    return connection


async def claims_page(
    info: Info[Context, None], partnership_id: UUID, first: int, after: str | None, status: str | None
) -> Connection[Claim]:
    if not policy.rows_visible(info.context.roles_in(partnership_id), "Claim"):
        return from_page({}, Claim.from_row, _cursor)
    params = {"partnership_id": str(partnership_id), "limit": str(check_first(first))}
    if after:
        params["cursor"] = after
    if status:
        params["status"] = status
    page = await info.context.services.outcomes.get("/v1/outcome-claims", params)
    return from_page(page, Claim.from_row, _cursor)


# --- statements and the summary --------------------------------------------------------------------------


@strawberry.type
class StatementLine:
    id: UUID
    kind: str
    claim_id: UUID
    outcome_code: str
    achievement_date: date
    priced_on: date
    tariff_share: Decimal
    cut_share: Decimal
    amount: Decimal

    @classmethod
    def from_row(cls, row: Row) -> StatementLine:
        return cls(
            id=UUID(row["id"]),
            kind=row["kind"],
            claim_id=UUID(row["claim_id"]),
            outcome_code=row["outcome_code"],
            achievement_date=date.fromisoformat(row["achievement_date"]),
            priced_on=date.fromisoformat(row["priced_on"]),
            tariff_share=Decimal(row["tariff_share"]),
            cut_share=Decimal(row["cut_share"]),
            amount=Decimal(row["amount"]),
        )


@strawberry.type(description="What one outcome payer owes for one period; immutable once issued.")
class Statement:
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date
    currency: str
    status: str
    total_tariff: Decimal
    total_cut: Decimal
    total: Decimal
    content_hash: str | None
    issued_at: datetime | None
    paid_at: datetime | None
    version: int
    # The service's lines when the row carried them; listings leave them out (None) to stay small.
    line_rows: strawberry.Private[list[Row] | None]

    @strawberry.field(description="Claim lines of the period, then adjustments for claims priced earlier.")
    async def lines(self, info: Info[Context, None]) -> list[StatementLine]:
        rows = self.line_rows
        if rows is None:
            row = await info.context.loaders.statement.load(self.id)
            rows = (row or {}).get("lines") or []
        return [StatementLine.from_row(x) for x in rows]

    @classmethod
    def from_row(cls, row: Row) -> Statement:
        return cls(
            id=UUID(row["id"]),
            partnership_id=UUID(row["partnership_id"]),
            contract_id=UUID(row["contract_id"]),
            payer_organisation_id=UUID(row["payer_organisation_id"]),
            period_start=date.fromisoformat(row["period_start"]),
            period_end=date.fromisoformat(row["period_end"]),
            currency=row["currency"],
            status=row["status"],
            total_tariff=Decimal(row["total_tariff"]),
            total_cut=Decimal(row["total_cut"]),
            total=Decimal(row["total"]),
            content_hash=row.get("content_hash"),
            issued_at=_time(row.get("issued_at")),
            paid_at=_time(row.get("paid_at")),
            version=int(row["version"]),
            line_rows=row.get("lines"),
        )


@strawberry.type
class OutcomeMonth:
    outcome_code: str
    month: str = strawberry.field(description="YYYY-MM of the achievement date.")
    verified: int
    value: Decimal


@strawberry.type
class ContractTotals:
    contract_id: UUID
    currency: str | None
    earned: Decimal
    pending_claims: int
    pending_value: Decimal
    contract_cap: Decimal | None
    remaining_cap: Decimal | None


@strawberry.type(description="Aggregates with no participant data: every partner may read them.")
class OutcomeSummary:
    enrolled: int
    exited: int
    verified_outcomes: list[OutcomeMonth]
    contracts: list[ContractTotals]

    @classmethod
    def from_row(cls, row: Row) -> OutcomeSummary:
        return cls(
            enrolled=int(row["enrolled"]),
            exited=int(row["exited"]),
            verified_outcomes=[
                OutcomeMonth(
                    outcome_code=m["outcome_code"],
                    month=m["month"],
                    verified=int(m["verified"]),
                    value=Decimal(m["value"]),
                )
                for m in row.get("verified_outcomes") or ()
            ],
            contracts=[
                ContractTotals(
                    contract_id=UUID(c["contract_id"]),
                    currency=c.get("currency"),
                    earned=Decimal(c["earned"]),
                    pending_claims=int(c["pending_claims"]),
                    pending_value=Decimal(c["pending_value"]),
                    contract_cap=_money(c.get("contract_cap")),
                    remaining_cap=_money(c.get("remaining_cap")),
                )
                for c in row.get("contracts") or ()
            ],
        )


# --- the ledger --------------------------------------------------------------------------------------------


@strawberry.type(description="One link of the partnership's hash chain.")
class LedgerEvent:
    sequence: int
    type: str
    time: datetime
    hash: str
    prev_hash: str
    actor_organisation_id: UUID | None
    row: strawberry.Private[Row]

    @classmethod
    def from_row(cls, row: Row) -> LedgerEvent:
        event = row.get("event") or {}
        actor = event.get("actor") or {}
        return cls(
            sequence=int(row["sequence"]),
            type=str(event.get("type", "")),
            time=datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00")),
            hash=row["hash"],
            prev_hash=row["prev_hash"],
            actor_organisation_id=UUID(actor["organisation_id"]) if actor.get("organisation_id") else None,
            row=row,
        )

    @strawberry.field(description="What the event is about (`outcome-claims/<id>`, …).")
    def subject(self) -> str:
        return str((self.row.get("event") or {}).get("subject", ""))

    @strawberry.field
    def participant_id(self) -> UUID | None:
        value = ((self.row.get("event") or {}).get("data") or {}).get("participant_id")
        return UUID(value) if value else None

    @strawberry.field(description="The event's data as chained (CloudEvents `data`).")
    def data(self) -> JSON:
        return cast(JSON, dict((self.row.get("event") or {}).get("data") or {}))

    @strawberry.field(description="The exact bytes hashed into the chain (RFC 8785 JSON).")
    def canonical(self) -> str:
        return str(self.row.get("canonical", ""))


@strawberry.type
class ChainStatus:
    valid: bool
    checked: int
    last_sequence: int | None
    last_hash: str | None
    broken_at: int | None
    reason: str | None

    @classmethod
    def from_row(cls, row: Row) -> ChainStatus:
        return cls(
            valid=bool(row["valid"]),
            checked=int(row["checked"]),
            last_sequence=row.get("last_sequence"),
            last_hash=row.get("last_hash"),
            broken_at=row.get("broken_at"),
            reason=row.get("reason"),
        )


def _sequence(event: LedgerEvent) -> str:
    return str(event.sequence)


async def ledger_page(
    info: Info[Context, None], partnership_id: UUID, first: int, after: str | None
) -> Connection[LedgerEvent]:
    params = {"limit": str(check_first(first)), "after": after or "0"}
    page = await info.context.services.outcomes.get(f"/v1/partnerships/{partnership_id}/ledger", params)
    return from_page(page, LedgerEvent.from_row, _sequence)


# --- mutations ---------------------------------------------------------------------------------------------


ParticipantResult = Annotated[
    Participant | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("ParticipantResult"),
]
ClaimResult = Annotated[
    Claim | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("ClaimResult"),
]
StatementResult = Annotated[
    Statement | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("StatementResult"),
]


@strawberry.input
class EnrolParticipantInput:
    partnership_id: UUID
    contract_id: UUID
    cpr: str = strawberry.field(description="Used once to derive the pseudonym; never stored or returned.")
    municipality_code: str
    enrolment_date: date
    cohort: str | None = None
    municipal_reference: str | None = None


@strawberry.input
class SubmitClaimInput:
    participant_id: UUID
    outcome_code: str
    achievement_date: date
    evidence_reference: str | None = None
    evidence_document_base64: str | None = None
    evidence_media_type: str | None = None


@strawberry.enum
class ClaimDecision(enum.Enum):
    VERIFIED = "verified"
    REJECTED = "rejected"


@strawberry.input
class GenerateStatementInput:
    contract_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date


def _body(value: Any) -> dict[str, Any]:
    out = {}
    for key, item in vars(value).items():
        if item is None:
            continue
        out[key] = (
            item.isoformat() if isinstance(item, date) else str(item) if isinstance(item, UUID) else item
        )
    return out


IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(description="Send the same key when retrying, so the write happens once."),
]
ExpectedVersion = Annotated[
    int | None, strawberry.argument(description="The `version` you read; refused if the row moved on.")
]


@strawberry.type
class OutcomeMutation:
    @strawberry.mutation(description="Enrol a participant by CPR number (kept only as a keyed pseudonym).")
    async def enrol_participant(
        self, info: Info[Context, None], input: EnrolParticipantInput, idempotency_key: IdempotencyKey = None
    ) -> ParticipantResult:
        call = info.context.services.outcomes.send(
            "POST", "/v1/participants", _body(input), headers=write_headers(idempotency_key)
        )
        return await attempt(call, Participant.from_row)

    @strawberry.mutation(description="As the outcome payer, confirm a participant's eligibility.")
    async def confirm_eligibility(
        self,
        info: Info[Context, None],
        participant_id: UUID,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ParticipantResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"/v1/participants/{participant_id}/eligibility-confirmation",
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, Participant.from_row)

    @strawberry.mutation(description="Record a participant's exit from the programme.")
    async def exit_participant(
        self,
        info: Info[Context, None],
        participant_id: UUID,
        exit_date: date,
        reason: str,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ParticipantResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"/v1/participants/{participant_id}/exit",
            {"exit_date": exit_date.isoformat(), "reason": reason},
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, Participant.from_row)

    @strawberry.mutation(description="Claim that a participant achieved an outcome.")
    async def submit_claim(
        self, info: Info[Context, None], input: SubmitClaimInput, idempotency_key: IdempotencyKey = None
    ) -> ClaimResult:
        call = info.context.services.outcomes.send(
            "POST", "/v1/outcome-claims", _body(input), headers=write_headers(idempotency_key)
        )
        return await attempt(call, Claim.from_row)

    @strawberry.mutation(description="Verify (and so price) or reject a claim.")
    async def verify_claim(
        self,
        info: Info[Context, None],
        claim_id: UUID,
        decision: ClaimDecision,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimResult:
        return await _decide(
            info, claim_id, "verification", decision, reason, expected_version, idempotency_key
        )

    @strawberry.mutation(description="Dispute a rejected claim (once).")
    async def dispute_claim(
        self,
        info: Info[Context, None],
        claim_id: UUID,
        reason: str,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"/v1/outcome-claims/{claim_id}/dispute",
            {"reason": reason},
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, Claim.from_row)

    @strawberry.mutation(description="As the outcome payer, resolve a dispute: verified or finally rejected.")
    async def resolve_dispute(
        self,
        info: Info[Context, None],
        claim_id: UUID,
        decision: ClaimDecision,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ClaimResult:
        return await _decide(
            info, claim_id, "dispute-resolution", decision, reason, expected_version, idempotency_key
        )

    @strawberry.mutation(description="Generate (or refresh) the draft statement for a payer and period.")
    async def generate_statement(
        self, info: Info[Context, None], input: GenerateStatementInput, idempotency_key: IdempotencyKey = None
    ) -> StatementResult:
        call = info.context.services.outcomes.send(
            "POST", "/v1/payment-statements", _body(input), headers=write_headers(idempotency_key)
        )
        return await attempt(call, Statement.from_row)

    @strawberry.mutation(description="Issue a draft statement: it becomes immutable and hashed.")
    async def issue_statement(
        self,
        info: Info[Context, None],
        statement_id: UUID,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> StatementResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"/v1/payment-statements/{statement_id}/issue",
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, Statement.from_row)

    @strawberry.mutation(description="As the payer, mark an issued statement paid.")
    async def mark_statement_paid(
        self,
        info: Info[Context, None],
        statement_id: UUID,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> StatementResult:
        call = info.context.services.outcomes.send(
            "POST",
            f"/v1/payment-statements/{statement_id}/payment",
            headers=write_headers(idempotency_key, expected_version),
        )
        return await attempt(call, Statement.from_row)


async def _decide(
    info: Info[Context, None],
    claim_id: UUID,
    action: str,
    decision: ClaimDecision,
    reason: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
) -> ClaimResult:
    body: dict[str, Any] = {"decision": decision.value}
    if reason is not None:
        body["reason"] = reason
    call = info.context.services.outcomes.send(
        "POST",
        f"/v1/outcome-claims/{claim_id}/{action}",
        body,
        headers=write_headers(idempotency_key, expected_version),
    )
    return await attempt(call, Claim.from_row)
