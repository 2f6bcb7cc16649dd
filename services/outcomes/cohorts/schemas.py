"""Request and response shapes of cohort payments. Figures are decimal strings (never JSON numbers: a
binary float is not the figure measured); money is a decimal string with its currency."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from kit.reads import ReadModel
from kit.text import FreeText
from services.outcomes.schemas import MoneyStr, Reason


def _decimal_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError('give the figure as a decimal string, e.g. "8125.50", not a JSON number')
    if not value.isascii():
        raise ValueError("write the figure with ASCII digits 0-9")
    return value


# A cohort's (or its comparison group's) mean per person over the period: benefits paid, taxes paid.
PerPerson = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    Field(ge=0, max_digits=21, decimal_places=6, allow_inf_nan=False),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,15}(\.[0-9]{1,6})?$",
            "description": "A mean per person, in the contract currency: a decimal string, up to 6 decimals",
            "examples": ["8125.50"],
        }
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CohortFigure(_In):
    code: str = Field(max_length=63, description="A measure the cohort outcome declares")
    cohort: PerPerson
    comparison: PerPerson


class CohortPaymentCreate(_In):
    contract_id: UUID
    cohort_outcome_code: str = Field(max_length=63)
    cohort: FreeText = Field(min_length=1, max_length=100, description="The cohort measured, e.g. `2027-A`")
    period_start: date = Field(description="The measured period; within the cohort outcome's horizon")
    period_end: date
    cohort_size: int = Field(ge=1, le=10_000_000, description="People in the cohort")
    comparison_size: int = Field(ge=1, le=10_000_000, description="People in the comparison group")
    figures: list[CohortFigure] = Field(min_length=1, max_length=10, description="One per declared measure")


class CohortDecision(_In):
    decision: Literal["approved", "rejected"]
    reason: Reason | None = Field(None, min_length=1, max_length=2000)


class CohortPaymentRead(ReadModel):
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    contract_version_id: UUID
    cohort_outcome_code: str
    cohort: str
    period_start: date
    period_end: date
    payer_organisation_id: UUID
    currency: str
    cohort_size: int
    comparison_size: int
    amount: MoneyStr = Field(description="The payment: the working's result (final once approved)")
    working: dict[str, Any] = Field(
        description="Inputs, formula, intermediate values, rounding and bounds (pricing/cohorts.py); "
        "aggregates only"
    )
    status: Literal["submitted", "approved", "rejected"]
    submitted_by_organisation_id: UUID
    submitted_at: datetime
    decided_by_organisation_id: UUID | None
    decided_at: datetime | None
    reason: str | None
    version: int
