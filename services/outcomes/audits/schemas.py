"""What an audit is opened with, what the payer records, and what a reader receives."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kit.reads import ReadModel
from kit.text import FreeText, FreeWords
from services.outcomes.schemas import MoneyStr

DRAW = (
    "Each claim of the population is ranked by the lowercase hex SHA-256 of `<seed>:<claim id>` (UTF-8); "
    "the `sample_size` claims of lowest rank are the sample."
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuditCreate(_In):
    contract_id: UUID
    payer_organisation_id: UUID = Field(description="The auditing payer: the caller's own organisation")
    period_start: date = Field(description="The audit covers the payer's statements issued for periods")
    period_end: date = Field(description="... that fall wholly from `period_start` to `period_end`")
    seed: FreeText | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._:-]{8,64}$",
        description="The draw's seed (e.g. a public random beacon value); a fresh random one when absent",
    )


class FindingIn(_In):
    claim_id: UUID
    finding: Literal["valid", "invalid"]
    reason: FreeWords | None = Field(
        None, max_length=2000, description="Why the claim is invalid (required then); never a CPR number"
    )


class FindingsCreate(_In):
    findings: list[FindingIn] = Field(min_length=1, max_length=10_000)


class FindingDisputeCreate(_In):
    claim_id: UUID
    reason: FreeWords = Field(max_length=2000, description="Why the provider holds the claim valid")


class AuditClaimRead(ReadModel):
    claim_id: UUID
    amount: MoneyStr = Field(description="What the payer paid for the claim in the audited period")
    rank: str = Field(description="SHA-256 of `<seed>:<claim id>`: the draw takes the lowest ranks")
    sampled: bool
    finding: str | None
    reason: str | None
    disputed_at: datetime | None
    dispute_reason: str | None
    resolved: bool = Field(description="The payer decided the dispute: the finding is final")


WITHHELD = (
    "For readers other than the provider and the auditing payer, null when withheld under the small-cell "
    "rule (docs/open-data.md), named in `suppressed`."
)


class AuditRead(ReadModel):
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    contract_version_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date
    currency: str
    seed: str
    draw: str = Field(DRAW, description="How the sample is drawn from the seed, to check it")
    rule: dict[str, Any] = Field(description="The terms' audit rule applied")
    population_claims: int | None = Field(description=f"The paid claims audited. {WITHHELD}")
    population_value: MoneyStr | None = Field(description=f"What was paid for them. {WITHHELD}")
    sample_size: int | None = Field(description=f"Held to the population. {WITHHELD}")
    status: Literal["open", "closed"]
    clawed_back: MoneyStr | None = Field(description=f"Null while open. {WITHHELD}")
    extrapolated: MoneyStr | None = Field(description=f"Null while open. {WITHHELD}")
    working: dict[str, Any] | None = Field(
        description=f"On a closed audit: the engine's working, with its counts. {WITHHELD}"
    )
    small_cell_threshold: int | None = Field(
        default=None, description="The small-cell threshold applied for you; null: you read exact figures."
    )
    suppressed: list[str] = Field(
        default=[], description="The fields withheld here under the small-cell rule."
    )
    opened_at: datetime
    closed_at: datetime | None
    version: int
    claims: list[AuditClaimRead] | None = Field(
        description="The population with ranks and findings: only the provider and the auditing payer; "
        "null for other readers, who see the totals"
    )
