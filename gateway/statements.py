"""Payment statements as partners see them: what one outcome payer owes for one period, generated as a
draft, issued (immutable and hashed) and marked paid. Every reader sees the totals by outcome; the lines,
which name claims, only the provider and the statement's payer (the outcome service decides; the policy
leaves `lines` out of the other partner types' schemas). Backed by the outcome service."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.clients.outcomes import (
    StatementAuditRow,
    StatementCohortRow,
    StatementLineRow,
    StatementOutcomeRow,
    StatementRow,
    StatementTrancheRow,
    StatementVariationRow,
)
from gateway.context import Context
from gateway.relay import GlobalNode, uuid_of
from gateway.results import ExpectedVersion, IdempotencyKey, Result, attempt
from gateway.rows import from_row
from gateway.summary import SUPPRESSED, suppressed


@strawberry.enum(
    description="A line for a claim priced in the period, an adjustment priced after it, a tranche (a "
    "payment the terms schedule by date, not linked to outcomes), a variation (a temporary variation's "
    "fixed monthly scenario payment, paid instead of outcome prices), a cohort payment a payer approved, or "
    "a post-payment audit's clawback of a claim or its extrapolated adjustment (both negative)."
)
class StatementLineKind(enum.Enum):
    CLAIM = "claim"
    ADJUSTMENT = "adjustment"
    TRANCHE = "tranche"
    VARIATION = "variation"
    CLAWBACK = "clawback"
    EXTRAPOLATED = "extrapolated"
    COHORT = "cohort"


@strawberry.enum(description="A statement is a draft until issued (frozen and hashed), then paid.")
class StatementStatus(enum.Enum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"


@strawberry.enum(
    description="Which period a line falls in: the one its claim was verified in, or achieved in."
)
class StatementBasis(enum.Enum):
    VERIFICATION = "verification"
    ACHIEVEMENT = "achievement"


@strawberry.type
class StatementLine:
    id: UUID
    kind: StatementLineKind
    claim_id: UUID | None = strawberry.field(description="The claim priced; null on a tranche line.")
    outcome_code: str | None = strawberry.field(description="The claim's outcome; null on a tranche line.")
    achievement_date: date
    priced_on: date
    tariff_share: Decimal
    cut_share: Decimal
    amount: Decimal
    repriced_by_version_id: UUID | None = strawberry.field(
        description="On a re-pricing's adjustment: the retroactive amendment that moved the claim's price."
    )
    tranche_code: str | None = strawberry.field(description="On a tranche line: the terms' tranche it pays.")
    variation_code: str | None = strawberry.field(
        description="On a variation line: the temporary variation whose scenario payment it is."
    )
    cohort_code: str | None = strawberry.field(
        description="On a cohort line: the terms' cohort outcome whose approved payment it books."
    )

    @classmethod
    def from_row(cls, row: StatementLineRow) -> StatementLine:
        return from_row(cls, row)


WITHHELD = "Null for a reader of totals only when withheld with a count it would give back."
WITHHELD_TOTAL = (
    "Summed from the lines; for a reader of totals only, null when an outcome's or an audit's amounts are "
    "withheld."
)


@strawberry.type(description="A statement's totals for one outcome: no claim is named.")
class StatementOutcome:
    outcome_code: str
    claim_lines: int | None = strawberry.field(
        description="Claims of the period priced for this outcome; null when withheld (small-cell rule)."
    )
    adjustment_lines: int | None = strawberry.field(
        description="Corrections to claims of earlier periods; null when withheld (small-cell rule)."
    )
    tariff_share: Decimal | None = strawberry.field(description=WITHHELD)
    cut_share: Decimal | None = strawberry.field(description=WITHHELD)
    amount: Decimal | None = strawberry.field(description=WITHHELD)
    suppressed: list[str] = strawberry.field(description=SUPPRESSED)

    @classmethod
    def from_row(cls, row: StatementOutcomeRow) -> StatementOutcome:
        return from_row(cls, row, suppressed=suppressed(row.suppressed))


@strawberry.type(description="A tranche payment booked on a statement: by date, no claim or person.")
class StatementTranche:
    tranche_code: str
    due_date: date
    amount: Decimal

    @classmethod
    def from_row(cls, row: StatementTrancheRow) -> StatementTranche:
        return from_row(cls, row)


@strawberry.type(
    description="A temporary variation's scenario payment booked on a statement: for a month, no claim or "
    "person."
)
class StatementVariation:
    variation_code: str
    due_date: date = strawberry.field(description="The last day of the month the payment is for.")
    amount: Decimal

    @classmethod
    def from_row(cls, row: StatementVariationRow) -> StatementVariation:
        return cls(variation_code=row.variation_code, due_date=row.due_date, amount=row.amount)


@strawberry.type(
    description="A post-payment audit's lines booked on a statement, summed: its clawbacks of invalid "
    "claims and its extrapolated adjustment, both negative; names no claim."
)
class StatementAudit:
    audit_id: UUID
    clawback_lines: int | None = strawberry.field(
        description="Claims the audit found invalid, each clawed back; null when withheld (small-cell rule)."
    )
    clawed_back: Decimal | None = strawberry.field(description=WITHHELD)
    extrapolated: Decimal | None = strawberry.field(description=WITHHELD)
    amount: Decimal | None = strawberry.field(description=WITHHELD)
    suppressed: list[str] = strawberry.field(description=SUPPRESSED)

    @classmethod
    def from_row(cls, row: StatementAuditRow) -> StatementAudit:
        return cls(
            audit_id=row.audit_id,
            clawback_lines=row.clawback_lines,
            clawed_back=row.clawed_back,
            extrapolated=row.extrapolated,
            amount=row.amount,
            suppressed=suppressed(row.suppressed),
        )


@strawberry.type(
    description="An approved cohort payment booked on a statement: a share of a cohort's measured gain "
    "against its comparison group; aggregates, no claim or person."
)
class StatementCohortPayment:
    cohort_payment_id: UUID
    cohort_outcome_code: str
    cohort: str
    period_start: date
    period_end: date
    amount: Decimal

    @classmethod
    def from_row(cls, row: StatementCohortRow) -> StatementCohortPayment:
        return cls(
            cohort_payment_id=row.cohort_payment_id,
            cohort_outcome_code=row.cohort_outcome_code,
            cohort=row.cohort,
            period_start=row.period_start,
            period_end=row.period_end,
            amount=row.amount,
        )


@strawberry.type(description="What one outcome payer owes for one period; immutable once issued.")
class Statement(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    partnership_id: UUID
    contract_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date
    currency: str
    basis: StatementBasis = strawberry.field(description="Which period a line falls in.")
    status: StatementStatus
    total_tariff: Decimal | None = strawberry.field(description=WITHHELD_TOTAL)
    total_cut: Decimal | None = strawberry.field(description=WITHHELD_TOTAL)
    total: Decimal | None = strawberry.field(description=WITHHELD_TOTAL)
    small_cell_threshold: int | None = strawberry.field(
        description="For a reader of totals only: counts of this many or fewer are withheld; else null."
    )
    suppressed: list[str] = strawberry.field(description=SUPPRESSED)
    content_hash: str | None
    issued_at: datetime | None
    paid_at: datetime | None
    version: int
    outcomes: list[StatementOutcome] = strawberry.field(description="The totals by outcome.")
    tranches: list[StatementTranche] = strawberry.field(description="The tranche payments booked on it.")
    variations: list[StatementVariation] = strawberry.field(
        description="The scenario payments booked on it, paid instead of outcome prices for a period."
    )
    audits: list[StatementAudit] = strawberry.field(
        description="Post-payment audits' clawbacks and extrapolations booked on it, per audit."
    )
    cohorts: list[StatementCohortPayment] = strawberry.field(
        description="The approved cohort payments booked on it."
    )
    # The service's lines when the row carried them; listings leave them out (None) to stay small.
    line_rows: strawberry.Private[list[StatementLineRow] | None]

    @strawberry.field(
        description="Claim lines of the period, then adjustments for claims priced earlier: for the provider "
        "and the statement's payer; null for a reader of totals only (an observer's membership)."
    )
    async def lines(self, info: Info[Context, None]) -> list[StatementLine] | None:
        rows = self.line_rows
        if rows is None:
            row = await info.context.loaders.statement.load(self.uuid)
            rows = row.lines if row else None
        return None if rows is None else [StatementLine.from_row(x) for x in rows]

    @classmethod
    def from_row(cls, row: StatementRow) -> Statement:
        return from_row(cls, row, line_rows=row.lines, suppressed=suppressed(row.suppressed))


# --- mutations ---------------------------------------------------------------------------------------------


@strawberry.input
class GenerateStatementInput:
    contract_id: relay.GlobalID
    payer_organisation_id: relay.GlobalID = strawberry.field(description="The payer's `Organisation` id.")
    period_start: date
    period_end: date


@strawberry.type
class StatementMutation:
    @strawberry.mutation(description="Generate (or refresh) the draft statement for a payer and period.")
    async def generate_statement(
        self, info: Info[Context, None], input: GenerateStatementInput, idempotency_key: IdempotencyKey = None
    ) -> Result[Statement]:
        call = info.context.services.outcomes.generate_statement(
            contract_id=uuid_of(input.contract_id, "Contract", field="input.contract_id"),
            payer_organisation_id=uuid_of(
                input.payer_organisation_id, "Organisation", field="input.payer_organisation_id"
            ),
            period_start=input.period_start,
            period_end=input.period_end,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Statement.from_row, body="input")

    @strawberry.mutation(description="Issue a draft statement: it becomes immutable and hashed.")
    async def issue_statement(
        self,
        info: Info[Context, None],
        statement_id: relay.GlobalID,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Statement]:
        call = info.context.services.outcomes.issue_statement(
            uuid_of(statement_id, "Statement", field="statement_id"),
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Statement.from_row)

    @strawberry.mutation(description="As the payer, mark an issued statement paid.")
    async def mark_statement_paid(
        self,
        info: Info[Context, None],
        statement_id: relay.GlobalID,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Statement]:
        call = info.context.services.outcomes.mark_statement_paid(
            uuid_of(statement_id, "Statement", field="statement_id"),
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Statement.from_row)
