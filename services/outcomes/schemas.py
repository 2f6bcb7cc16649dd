"""Request and response shapes. Money is a decimal string with its ISO 4217 currency; no shape carries a
CPR number out (it appears only in `ParticipantCreate`, and only inbound)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, SecretStr, field_validator

from kit.reads import ReadModel
from kit.text import FreeText, FreeWords, Text
from services.outcomes import states

# A reason someone must read later (an exit, a decision, a dispute): whitespace alone records none.
Reason = FreeWords


def money_text(amount: Decimal) -> str:
    # Two decimals, as always; a third only when it is there (a three-digit currency), never rounded away.
    return f"{amount:.2f}" if amount == round(amount, 2) else f"{amount:.3f}"


MoneyStr = Annotated[Decimal, PlainSerializer(money_text, return_type=str, when_used="always")]


# A reported fact: a decimal as a string (or a JSON number), a whole number, true/false, or a choice.
Fact = bool | int | Decimal | Annotated[str, Field(max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParticipantCreate(_In):
    partnership_id: UUID
    contract_id: UUID
    # SecretStr keeps the number out of reprs, logs and validation error echoes.
    cpr: SecretStr = Field(
        description="The participant's CPR number; used to derive a pseudonym, never stored."
    )
    municipality_code: str = Field(pattern=r"^[0-9]{3}$", description="Municipality of residence.")
    enrolment_date: date
    cohort: FreeText | None = Field(None, max_length=100)
    municipal_reference: FreeText | None = Field(
        None, max_length=200, description="Stored encrypted; readable only by the municipality of residence."
    )
    segment: FreeText | None = Field(
        None, max_length=100, description="Required when the terms declare segments; fixed from enrolment."
    )


class ParticipantExit(_In):
    exit_date: date
    reason: Reason = Field(min_length=1, max_length=500)


class ParticipantRead(ReadModel):
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    pseudonym: str | None = Field(
        description="The keyed pseudonym of the CPR number; absent for a payer without residents (a funder)."
    )
    key_version: int
    municipality_code: str
    enrolment_date: date
    cohort: str | None
    segment: str | None
    enrolled_by_organisation_id: UUID
    eligibility_confirmed_by_organisation_id: UUID | None
    eligibility_confirmed_at: datetime | None
    exit_date: date | None
    exit_reason: str | None = Field(description="Free text; absent for a payer without residents (a funder).")
    municipal_reference: str | None = Field(
        None, description="Present only for the municipality of residence."
    )
    version: int
    created_at: datetime

    @field_validator("municipal_reference", mode="before")
    @classmethod
    def _never_the_stored_column(cls, value: object) -> str | None:
        # The column holds the reference encrypted: a read validated from the bare row shows none; only
        # `participant_read` passes the decrypted value beside the row.
        return value if isinstance(value, str) else None


class ClaimCreate(_In):
    participant_id: UUID
    outcome_code: Text = Field(min_length=1, max_length=100)
    achievement_date: date
    evidence_reference: FreeText | None = Field(None, min_length=1, max_length=500)
    evidence_document_base64: str | None = Field(None, description="The evidence document, base64.")
    evidence_media_type: Text | None = Field(None, max_length=100)
    facts: dict[str, Fact] = Field(
        default_factory=dict,
        max_length=50,
        description="What the claim reports, as the terms declare its facts (e.g. `hours_per_week`).",
    )


class Decision(_In):
    decision: Literal["verified", "rejected"]
    reason: Reason | None = Field(None, min_length=1, max_length=2000)


class DisputeCreate(_In):
    reason: Reason = Field(min_length=1, max_length=2000)


class CutReason(BaseModel):
    cap: str
    amount: MoneyStr


class SplitLineRead(ReadModel):
    payer_organisation_id: UUID
    tariff_share: MoneyStr
    amount: MoneyStr


# Validated from an `OutcomeClaim` with its `split` beside it (`Row(claim, split=...)`); a docstring here
# would become the schema's OpenAPI description.
class ClaimRead(ReadModel):
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    participant_id: UUID
    outcome_code: str
    achievement_date: date
    evidence_reference: str | None
    evidence_sha256: str | None
    evidence_media_type: str | None
    has_evidence_document: bool
    claimant_organisation_id: UUID
    claimed_contract_version_id: UUID
    facts: dict[str, Fact] | None = Field(None, description="What the claim reported; person-level data.")
    status: str
    final: bool = Field(description="True when no further transition is possible.")
    disputed: bool
    verifier_organisation_id: UUID | None
    decided_at: datetime | None
    reason: str | None
    dispute_reason: str | None
    disputed_at: datetime | None
    priced_contract_version_id: UUID | None
    currency: str | None
    tariff: MoneyStr | None
    payable: MoneyStr | None
    cut: MoneyStr | None
    cut_reasons: list[CutReason] | None
    band: str | None = Field(None, description="The band pricing chose from the claim's facts.")
    tier: int | None = Field(None, description="The volume tier the claim was priced in, from 0.")
    split: list[SplitLineRead] | None
    priced_on: date | None
    payment_period: str | None
    version: int
    created_at: datetime

    @classmethod
    def derive(cls, claim: Any) -> Mapping[str, object]:
        return {
            "has_evidence_document": claim.evidence_sha256 is not None,
            "final": states.final(claim.status, disputed=claim.disputed),
        }


class StatementCreate(_In):
    contract_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date


SUPPRESSED = (
    "The fields withheld here under the small-cell rule (kit/cells.py, docs/open-data.md): counts of the "
    "threshold or fewer, and what they would betray. Always empty for readers of exact counts."
)
STATEMENT_TOTAL = (
    "Summed from the lines; for a reader of totals only, null when an outcome's or an audit's amounts are "
    "withheld (small-cell rule), since the total less the shown parts would give them back."
)
THRESHOLD = (
    "The small-cell threshold applied for you: counts of this many or fewer are withheld (null). Null: you "
    "read exact counts (provider, evaluator, a payer of its residents; a statement's line readers)."
)


class StatementLineRead(ReadModel):
    id: UUID
    kind: str = Field(
        description="`claim`, `adjustment`, `tranche` (a payment by date, not a claim's), `variation` (a "
        "temporary variation's scenario payment), `cohort` (an approved cohort payment), or an audit's "
        "`clawback` (of one claim) or `extrapolated` (no claim), both negative"
    )
    claim_id: UUID | None = Field(description="The claim priced; null on a tranche line")
    outcome_code: str | None = Field(description="The claim's outcome; null on a tranche line")
    tranche_code: str | None = Field(None, description="On a tranche line: the terms' tranche it pays")
    variation_code: str | None = Field(
        None, description="On a `variation` line: the temporary variation whose scenario payment it is"
    )
    audit_id: UUID | None = Field(None, description="On a clawback or extrapolation line: its audit")
    cohort_payment_id: UUID | None = Field(None, description="On a cohort line: the cohort payment it books")
    cohort_code: str | None = Field(None, description="On a cohort line: the terms' cohort outcome")
    achievement_date: date
    priced_on: date
    tariff_share: MoneyStr
    cut_share: MoneyStr
    amount: MoneyStr
    repriced_by_version_id: UUID | None = Field(
        None, description="On a re-pricing's adjustment: the retroactive amendment that moved the price."
    )

    @classmethod
    def derive(cls, line: Any) -> Mapping[str, object]:
        return {"cut_share": line.tariff_share - line.amount}


class StatementOutcomeRead(BaseModel):
    outcome_code: str
    claim_lines: int | None = Field(
        description="Claims of the period priced for this outcome; null when withheld (small-cell rule)."
    )
    adjustment_lines: int | None = Field(
        description="Corrections to claims of earlier periods; null when withheld (small-cell rule)."
    )
    tariff_share: MoneyStr | None = Field(description="Null when withheld with a count it would betray.")
    cut_share: MoneyStr | None = Field(description="Null when withheld with a count it would betray.")
    amount: MoneyStr | None = Field(description="Null when withheld with a count it would betray.")
    suppressed: list[str] = Field(default=[], description=SUPPRESSED)


class StatementTrancheRead(BaseModel):
    tranche_code: str
    due_date: date
    amount: MoneyStr


class StatementVariationRead(BaseModel):
    variation_code: str
    due_date: date = Field(description="The last day of the month the scenario payment is for")
    amount: MoneyStr


class StatementAuditRead(BaseModel):
    """An audit's lines on a statement, summed. For a reader of totals only the count is under the
    small-cell rule, and the amounts (built from the claims it counts) are withheld with it."""

    audit_id: UUID
    clawback_lines: int | None = Field(
        description="Claims the audit found invalid, each clawed back; null when withheld (small-cell rule)."
    )
    clawed_back: MoneyStr | None = Field(
        description="Their paid amounts, negative. Null when withheld with the count it would betray."
    )
    extrapolated: MoneyStr | None = Field(
        description="The extrapolated adjustment, negative (zero: none): the error rate by the clawed-back "
        "value times the unsampled value. Null when withheld with the count it would betray."
    )
    amount: MoneyStr | None = Field(description="Null when withheld with the count it would betray.")
    suppressed: list[str] = Field(default=[], description=SUPPRESSED)


class StatementCohortRead(BaseModel):
    """An approved cohort payment booked on a statement (services/outcomes/cohorts): aggregates, so every
    reader of the statement sees it."""

    cohort_payment_id: UUID
    cohort_outcome_code: str
    cohort: str
    period_start: date
    period_end: date
    amount: MoneyStr


# Validated from a `PaymentStatement` with its `lines` and `outcomes` beside it (`Row(statement, ...)`).
class StatementRead(ReadModel):
    id: UUID
    partnership_id: UUID
    contract_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date
    currency: str
    basis: str = Field(
        "verification", description="Lines fall in the period of their verification or their achievement."
    )
    status: str
    total_tariff: MoneyStr | None = Field(description=STATEMENT_TOTAL)
    total_cut: MoneyStr | None = Field(description=STATEMENT_TOTAL)
    total: MoneyStr | None = Field(description=STATEMENT_TOTAL)
    small_cell_threshold: int | None = Field(default=None, description=THRESHOLD)
    suppressed: list[str] = Field(default=[], description=SUPPRESSED)
    content_hash: str | None
    issued_at: datetime | None
    paid_at: datetime | None
    version: int
    created_at: datetime
    outcomes: list[StatementOutcomeRead] = Field(
        description="The totals by outcome: what every reader of the statement sees, with no claim named."
    )
    tranches: list[StatementTrancheRead] = Field(
        description="The tranche payments booked on it (terms v2 `tranches`): every reader sees them."
    )
    variations: list[StatementVariationRead] = Field(
        default_factory=list,
        description="The scenario payments booked on it (terms v2 `variations`, paid instead of outcome "
        "prices for a period): every reader sees them.",
    )
    audits: list[StatementAuditRead] = Field(
        default_factory=list,
        description="Post-payment audits' clawbacks and extrapolations booked on it, per audit: every "
        "reader sees them; `outcomes`, `tranches`, `variations` and `audits` sum to `total`.",
    )
    cohorts: list[StatementCohortRead] = Field(
        default_factory=list,
        description="The cohort payments booked on it (terms v2 `cohort_outcomes`): every reader sees them.",
    )
    lines: list[StatementLineRead] | None = Field(
        description="Claim, adjustment and tranche lines, for the provider and the statement's payer only "
        "(they name claims); null for every other reader (investors, advisers, observers: totals only) "
        "and in a listing asked for with `lines=false`."
    )


class OutcomeMonth(BaseModel):
    outcome_code: str
    month: str = Field(description="YYYY-MM of the achievement date.")
    verified: int | None = Field(description="Verified claims; null when withheld (small-cell rule).")
    value: MoneyStr | None = Field(description="Their payable sum; withheld with the count.")
    suppressed: list[str] = Field(default=[], description=SUPPRESSED)


class ContractAggregate(BaseModel):
    contract_id: UUID
    currency: str | None
    earned: MoneyStr | None = Field(
        description="Payable of the verified claims; null when any verified cell is withheld."
    )
    pending_claims: int | None = Field(description="Claims not yet decided; null when withheld.")
    pending_value: MoneyStr | None = Field(
        description="Tariff value of claims not yet decided (before caps); withheld with their count."
    )
    contract_cap: MoneyStr | None = Field(description="The terms' cap; null: no cap.")
    remaining_cap: MoneyStr | None = Field(
        description="The cap less what was paid; null with no cap, or withheld with `earned`."
    )
    suppressed: list[str] = Field(default=[], description=SUPPRESSED)


class PartnershipAggregates(BaseModel):
    partnership_id: UUID
    small_cell_threshold: int | None = Field(default=None, description=THRESHOLD)
    enrolled: int | None = Field(description="Participants enrolled; null when withheld.")
    exited: int | None = Field(description="Of them, exited; null when withheld.")
    suppressed: list[str] = Field(default=[], description=SUPPRESSED)
    verified_outcomes: list[OutcomeMonth]
    contracts: list[ContractAggregate]


class LedgerEventRead(BaseModel):
    sequence: int
    prev_hash: str
    hash: str
    event: dict[str, object]
    canonical: str


class LedgerPage(BaseModel):
    items: list[LedgerEventRead]
    next_cursor: str | None = Field(None, description="Pass as `after=` to read on.")


class ChainVerification(BaseModel):
    partnership_id: UUID
    valid: bool
    checked: int
    last_sequence: int | None
    last_hash: str | None
    broken_at: int | None
    reason: str | None


# --- erasure ------------------------------------------------------------------------------------------------


class LedgerValueErasure(_In):
    """Erase one free-text value of a ledger event (its disclosed value and salt) and the same text where
    the participant's record holds it."""

    kind: Literal["ledger_value"]
    event_id: UUID
    path: str = Field(max_length=100, description="The value's record path: `data.reason` or `data.cohort`.")


class ParticipantErasure(_In):
    """Erase a participant's municipal reference, evidence documents and every free text about them."""

    kind: Literal["participant"]
    participant_id: UUID


ErasureCreate = Annotated[LedgerValueErasure | ParticipantErasure, Field(discriminator="kind")]


class ErasureRead(ReadModel):
    id: UUID
    partnership_id: UUID
    participant_id: UUID
    kind: str
    event_id: UUID | None
    path: str | None
    values_erased: int
    documents_erased: int
    municipal_reference_erased: bool
    requested_by_organisation_id: UUID
    created_at: datetime
