"""A partnership's outcome summary: enrolment, verified outcomes by code and month, value earned and the
caps left per contract. Aggregates with no participant data, so every partner may read them; backed by
the outcome service, which withholds small counts (and what they would betray) from readers without
person-level rights: such a field is null and named, in camelCase, in its object's `suppressed`."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import strawberry
from strawberry.utils.str_converters import to_camel_case

from gateway.clients.outcomes import AggregatesRow

SUPPRESSED = (
    "The fields withheld here under the small-cell rule (counts of `smallCellThreshold` or fewer, and the "
    "amounts and totals that would give them back); empty for readers of exact counts."
)


def suppressed(names: list[str]) -> list[str]:
    """The service's withheld field names as the graph names them."""
    return [to_camel_case(name) for name in names]


@strawberry.type
class OutcomeMonth:
    outcome_code: str
    month: str = strawberry.field(description="YYYY-MM of the achievement date.")
    verified: int | None = strawberry.field(description="Verified claims; null when withheld.")
    value: Decimal | None = strawberry.field(description="Their payable sum; withheld with the count.")
    suppressed: list[str] = strawberry.field(description=SUPPRESSED)


@strawberry.type
class ContractTotals:
    contract_id: UUID
    currency: str | None
    earned: Decimal | None = strawberry.field(description="Null when any verified cell is withheld.")
    pending_claims: int | None = strawberry.field(description="Claims not yet decided; null when withheld.")
    pending_value: Decimal | None = strawberry.field(description="Withheld with the pending claims.")
    contract_cap: Decimal | None
    remaining_cap: Decimal | None = strawberry.field(
        description="Null with no cap, or withheld with `earned` (`suppressed` says which)."
    )
    suppressed: list[str] = strawberry.field(description=SUPPRESSED)


@strawberry.type(description="Aggregates with no participant data: every partner may read them.")
class OutcomeSummary:
    small_cell_threshold: int | None = strawberry.field(
        description="Counts of this many or fewer are withheld for you (null); null: you read exact counts."
    )
    enrolled: int | None = strawberry.field(description="Participants enrolled; null when withheld.")
    exited: int | None = strawberry.field(description="Of them, exited; null when withheld.")
    suppressed: list[str] = strawberry.field(description=SUPPRESSED)
    verified_outcomes: list[OutcomeMonth] = strawberry.field(
        description="Per outcome and month; for readers under the small-cell rule, every outcome and month "
        "of the contracts' terms so far, withheld or not."
    )
    contracts: list[ContractTotals]

    @classmethod
    def from_row(cls, row: AggregatesRow) -> OutcomeSummary:
        return cls(
            small_cell_threshold=row.small_cell_threshold,
            enrolled=row.enrolled,
            exited=row.exited,
            suppressed=suppressed(row.suppressed),
            verified_outcomes=[
                OutcomeMonth(
                    outcome_code=m.outcome_code,
                    month=m.month,
                    verified=m.verified,
                    value=m.value,
                    suppressed=suppressed(m.suppressed),
                )
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
                    suppressed=suppressed(c.suppressed),
                )
                for c in row.contracts or ()
            ],
        )
