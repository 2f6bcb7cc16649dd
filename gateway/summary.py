"""A partnership's outcome summary: enrolment, verified outcomes by code and month, value earned and the
caps left per contract. Aggregates with no participant data, so every partner may read them; backed by
the outcome service."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import strawberry

from gateway.clients.outcomes import AggregatesRow


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
    def from_row(cls, row: AggregatesRow) -> OutcomeSummary:
        return cls(
            enrolled=row.enrolled,
            exited=row.exited,
            verified_outcomes=[
                OutcomeMonth(outcome_code=m.outcome_code, month=m.month, verified=m.verified, value=m.value)
                for m in row.verified_outcomes or ()
            ],
            contracts=[
                ContractTotals(
                    contract_id=c.contract_id,
                    currency=c.currency,
                    earned=c.earned,
                    pending_claims=c.pending_claims,
                    pending_value=c.pending_value,
                    contract_cap=c.contract_cap,
                    remaining_cap=c.remaining_cap,
                )
                for c in row.contracts or ()
            ],
        )
