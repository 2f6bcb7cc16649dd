"""The outcomes service's tables.

Participants hold a keyed pseudonym, never a CPR number. The ledger is append-only (a trigger refuses
UPDATE, DELETE and TRUNCATE); `ledger_heads` is the per-partnership row locked to append, which makes the
sequence gapless. `cap_counters` are the rows locked while pricing, so concurrent verifications never pay
past a cap. Money is NUMERIC(18, 3) (three-decimal currencies fit) with its currency alongside.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.idempotency import idempotency_table
from services.outcomes.db import Base

idempotency_keys = idempotency_table(Base.metadata)

Money = Numeric(18, 3)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Participant(Base):
    __tablename__ = "participants"
    # `created_at` comes back with the INSERT (RETURNING), so a new participant's answer needs no second read.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # Under one key version a pseudonym identifies one person; across versions the service looks up
        # every version's pseudonym under the partnership's ledger lock (see pseudonyms.py).
        UniqueConstraint("partnership_id", "key_version", "pseudonym"),
        CheckConstraint("municipality_code ~ '^[0-9]{3}$'", name="municipality_code_digits"),
        CheckConstraint("exit_date IS NULL OR exit_date >= enrolment_date", name="exit_after_enrolment"),
        CheckConstraint("(exit_date IS NULL) = (exit_reason IS NULL)", name="exit_reason_with_date"),
        CheckConstraint(
            "(municipal_reference IS NULL) = (municipal_reference_key_version IS NULL)",
            name="municipal_reference_key_version",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(index=True)
    pseudonym: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    municipality_code: Mapped[str] = mapped_column(String(3))
    enrolment_date: Mapped[date] = mapped_column(Date)
    cohort: Mapped[str | None] = mapped_column(String(100))
    # The terms' segment (e.g. vulnerability level), fixed at enrolment; person-level, never for investors.
    segment: Mapped[str | None] = mapped_column(String(100))
    enrolled_by_organisation_id: Mapped[uuid.UUID]
    eligibility_confirmed_by_organisation_id: Mapped[uuid.UUID | None]
    eligibility_confirmed_by: Mapped[str | None] = mapped_column(String(200))
    eligibility_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_date: Mapped[date | None] = mapped_column(Date)
    exit_reason: Mapped[str | None] = mapped_column(String(500))
    # AES-256-GCM (nonce || ciphertext), readable only by the municipality of residence.
    municipal_reference: Mapped[bytes | None] = mapped_column(LargeBinary)
    municipal_reference_key_version: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = _now()


class OutcomeClaim(Base):
    __tablename__ = "outcome_claims"
    # `created_at` comes back with the INSERT (RETURNING), so a new claim's answer needs no second read.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint("status IN ('claimed', 'verified', 'rejected', 'disputed')", name="status"),
        CheckConstraint(
            "evidence_reference IS NOT NULL OR evidence_sha256 IS NOT NULL", name="evidence_present"
        ),
        CheckConstraint("payable IS NULL OR (payable >= 0 AND payable <= tariff)", name="payable_range"),
        Index("ix_outcome_claims_participant_code", "participant_id", "outcome_code"),
        Index("ix_outcome_claims_payer_organisation_ids", "payer_organisation_ids", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(index=True)
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participants.id"))
    outcome_code: Mapped[str] = mapped_column(String(100))
    achievement_date: Mapped[date] = mapped_column(Date)
    evidence_reference: Mapped[str | None] = mapped_column(String(500))
    evidence_document: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    evidence_media_type: Mapped[str | None] = mapped_column(String(100))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    claimant_organisation_id: Mapped[uuid.UUID]
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_contract_version_id: Mapped[uuid.UUID]
    # What the claim reports (hours per week, …), typed as the terms declare; decimals as strings.
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default=text("'claimed'"))
    disputed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    verifier_organisation_id: Mapped[uuid.UUID | None]
    verified_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    disputed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Pricing, fixed at verification from the version in force on the achievement date.
    priced_contract_version_id: Mapped[uuid.UUID | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    tariff: Mapped[Decimal | None] = mapped_column(Money)
    payable: Mapped[Decimal | None] = mapped_column(Money)
    cut: Mapped[Decimal | None] = mapped_column(Money)
    cut_reasons: Mapped[list[dict[str, str]] | None] = mapped_column(JSONB)
    band: Mapped[str | None] = mapped_column(String(100))  # the band the engine chose from the facts
    tier: Mapped[int | None] = mapped_column(SmallInteger)  # the volume tier's index, from 0
    tier_count: Mapped[int | None] = mapped_column(Integer)  # verified achievements before this one
    priced_on: Mapped[date | None] = mapped_column(Date)
    payment_period: Mapped[str | None] = mapped_column(String(10))
    # Who the claim is charged to: from the terms at submission, from its payment lines once priced. A
    # payer without residents (an outcome funder) reads exactly the claims that name it (access.py).
    payer_organisation_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid()), server_default=text("'{}'"), default=list
    )
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = _now()


class CapCounter(Base):
    """What has been paid against one cap; locked FOR UPDATE while a claim is priced."""

    __tablename__ = "cap_counters"

    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(20), primary_key=True)  # see `key`
    # contract: "" | outcome: its code | payer: organisation id | period: "2027-Q1" | participant: its id
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    paid: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    # Claims priced against it: an outcome's count decides its volume tier and its count cap.
    count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # The limit applied by the latest pricing, for remaining-cap aggregates (null: uncapped).
    cap: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))


class PaymentStatement(Base):
    __tablename__ = "payment_statements"
    __table_args__ = (
        UniqueConstraint("contract_id", "payer_organisation_id", "period_start"),
        CheckConstraint("status IN ('draft', 'issued', 'paid')", name="status"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("(status = 'draft') = (content_hash IS NULL)", name="hashed_when_issued"),
        CheckConstraint("basis IN ('verification', 'achievement')", name="basis"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(index=True)
    payer_organisation_id: Mapped[uuid.UUID]
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    # Whether a line falls in the period it was priced in or its claim was achieved in (the terms say).
    basis: Mapped[str] = mapped_column(String(20), server_default=text("'verification'"))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'draft'"))
    total: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    total_tariff: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    total_cut: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str | None] = mapped_column(String(200))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = _now()


# Where a line comes from: a claim (its pricing, or an audit's clawback of it), a tranche payment, a
# variation's scenario payment, an approved cohort payment (with its cohort outcome's code), or an audit's
# extrapolated adjustment (an audit, no claim); the kind it takes on a statement says which.
LINE_SOURCE = (
    "num_nonnulls(claim_id, tranche_code, variation_code, cohort_payment_id)"
    " + (CASE WHEN claim_id IS NULL AND audit_id IS NOT NULL THEN 1 ELSE 0 END) = 1"
    " AND (claim_id IS NULL) = (outcome_code IS NULL)"
    " AND (tranche_code IS NULL) = (tranche_due IS NULL)"
    " AND (variation_code IS NULL) = (variation_due IS NULL)"
    " AND (cohort_payment_id IS NULL) = (cohort_code IS NULL)"
    " AND (kind IS NULL OR (kind = 'tranche') = (tranche_code IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'variation') = (variation_code IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'cohort') = (cohort_payment_id IS NOT NULL))"
    " AND (kind IS NULL OR (kind IN ('clawback', 'extrapolated')) = (audit_id IS NOT NULL))"
    " AND (kind IS NULL OR (kind = 'extrapolated') = (audit_id IS NOT NULL AND claim_id IS NULL))"
)


class PaymentLine(Base):
    """One payer's part of one priced claim. It joins a statement once: as a `claim` line in the
    statement of its period (priced in, or achieved in: the statement basis), or as an `adjustment` line in
    a later one when that period's statement had already been issued. A retroactive amendment's re-pricing
    books the difference as further lines (`repriced_by_version_id`), negative when the price fell; they
    are always `adjustment` lines of the period they were booked in. A `tranche` line is a payment the terms
    schedule by date (`tranche_code`, due `priced_on`), not a claim's: no claim, no outcome, no participant;
    booked once per tranche payment, on the statement of the period its due date falls in. A `variation`
    line is likewise a temporary variation's scenario payment for one month (`variation_code`, due on the
    month's last day), booked once per payer and month. A `cohort` line books an approved cohort payment
    (services/outcomes/cohorts): no claim, outcome or participant either. A `clawback` line (a claim's,
    `audit_id` set) takes back what a post-payment audit found invalid; an `extrapolated` line (an audit's,
    no claim) takes back the sample's error rate on the claims not sampled: both negative, both booked on
    the payer's next statement after the audit closes."""

    __tablename__ = "payment_lines"
    __table_args__ = (
        UniqueConstraint(
            "claim_id",
            "payer_organisation_id",
            "repriced_by_version_id",
            "contract_id",
            "tranche_code",
            "tranche_due",
            "variation_code",
            "variation_due",
            "audit_id",
            "cohort_payment_id",
            name="uq_payment_lines_source",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint(
            "kind IS NULL OR kind IN"
            " ('claim', 'adjustment', 'tranche', 'variation', 'cohort', 'clawback', 'extrapolated')",
            name="kind",
        ),
        CheckConstraint(LINE_SOURCE, name="line_source"),
        CheckConstraint("(kind IS NULL) = (statement_id IS NULL)", name="kind_with_statement"),
        CheckConstraint(
            # A cohort payment may be negative where its terms let a loss be repaid (pricing/cohorts.py); an
            # audit's lines always are (`audit_takes_back`).
            "repriced_by_version_id IS NOT NULL OR audit_id IS NOT NULL"
            " OR (amount <= tariff_share AND (amount >= 0 OR cohort_payment_id IS NOT NULL))",
            name="amount_range",
        ),
        CheckConstraint(
            "audit_id IS NULL OR (amount < 0 AND amount = tariff_share)", name="audit_takes_back"
        ),
        # A claim is clawed back once, whichever audit finds it invalid; an audit extrapolates once.
        Index(
            "uq_payment_lines_clawback",
            "claim_id",
            "payer_organisation_id",
            unique=True,
            postgresql_where=text("audit_id IS NOT NULL AND claim_id IS NOT NULL"),
        ),
        Index(
            "uq_payment_lines_extrapolation",
            "audit_id",
            unique=True,
            postgresql_where=text("audit_id IS NOT NULL AND claim_id IS NULL"),
        ),
        Index("ix_payment_lines_unassigned", "contract_id", "payer_organisation_id", "priced_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outcome_claims.id"))  # None: a tranche
    contract_id: Mapped[uuid.UUID]
    payer_organisation_id: Mapped[uuid.UUID]
    outcome_code: Mapped[str | None] = mapped_column(String(100))
    achievement_date: Mapped[date] = mapped_column(Date)
    priced_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    tariff_share: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)
    statement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_statements.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(12))
    repriced_by_version_id: Mapped[uuid.UUID | None]  # the amendment whose activation re-priced the claim
    tranche_code: Mapped[str | None] = mapped_column(String(100))
    tranche_due: Mapped[date | None] = mapped_column(Date)  # the tranche payment's due date (= priced_on)
    variation_code: Mapped[str | None] = mapped_column(String(100))
    variation_due: Mapped[date | None] = mapped_column(Date)  # the scenario month's last day (= priced_on)
    # A post-payment audit's line (audits/): with a claim, its clawback; without, the extrapolated adjustment.
    audit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_audits.id"))
    # A cohort line: the approved cohort payment it books (once) and its cohort outcome's code.
    cohort_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cohort_payments.id"))
    cohort_code: Mapped[str | None] = mapped_column(String(100))


class LedgerHead(Base):
    """The partnership's last sequence and hash; appending locks this row, so sequences are gapless."""

    __tablename__ = "ledger_heads"

    partnership_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_hash: Mapped[str] = mapped_column(String(64))


class LedgerEvent(Base):
    """An append-only CloudEvent. `canonical` holds the exact bytes hashed; the columns beside it are the
    same content, queryable; chain verification checks that the two still agree."""

    __tablename__ = "ledger_events"
    __table_args__ = (
        UniqueConstraint("partnership_id", "sequence"),
        CheckConstraint("sequence >= 1", name="sequence_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID]
    sequence: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # 1: values in clear, linked over the canonical bytes; 2: person-level values as salted commitments
    # (their values in `ledger_disclosures`), linked over the bytes' digest (chain.py).
    record_format: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))


class LedgerDisclosure(Base):
    """A committed value of a format-2 event, with its salt: what the audiences that may see it receive
    beside the hashed record to check it against the commitment. Erasable: an erasure deletes the salt
    and the value (the commitment in the chain then reveals nothing and still verifies). `participant_id`
    is whose event it is, so the audience of an event is decided without the chain holding the link."""

    __tablename__ = "ledger_disclosures"

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_events.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(100), primary_key=True)
    partnership_id: Mapped[uuid.UUID]
    participant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    salt: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))
    erasure_id: Mapped[uuid.UUID | None]
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Erasure(Base):
    """An erasure the data controller (the participant's outcome payer) requested: what was erased, by
    whom and when; its ledger event (`dk.effekt.erasure.completed`) names no person."""

    __tablename__ = "erasures"
    __table_args__ = (CheckConstraint("kind IN ('ledger_value', 'participant')", name="kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    participant_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[uuid.UUID | None]
    path: Mapped[str | None] = mapped_column(String(100))
    values_erased: Mapped[int] = mapped_column(Integer)
    documents_erased: Mapped[int] = mapped_column(Integer)
    municipal_reference_erased: Mapped[bool] = mapped_column(Boolean)
    requested_by_organisation_id: Mapped[uuid.UUID]
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- tallies (see statements/tallies.py) -------------------------------------------------------------------
# Statement-level triggers (created in the migration `..._create_outcome_tallies.py`) append each write's
# net change to a `*_deltas` table; the compactor folds deltas into the tallies. Nothing else writes them.


class ParticipantTally(Base):
    """How many participants a contract of a partnership has enrolled, and how many of them have exited."""

    __tablename__ = "participant_tallies"

    partnership_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    enrolled: Mapped[int] = mapped_column(BigInteger)
    exited: Mapped[int] = mapped_column(BigInteger)


class ParticipantTallyDelta(Base):
    """A change to a participant tally not folded in yet: insert-only, so writers never wait on each other."""

    __tablename__ = "participant_tally_deltas"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    partnership_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contract_id: Mapped[uuid.UUID]
    enrolled: Mapped[int] = mapped_column(BigInteger)
    exited: Mapped[int] = mapped_column(BigInteger)


class _ClaimCounts:
    """Claims that are not rejected, grouped: `month` is the achievement date as `YYYY-MM`, `currency` is
    null until the claim is priced, `payable` sums what verification priced."""

    partnership_id: Mapped[uuid.UUID]
    contract_id: Mapped[uuid.UUID]
    contract_version_id: Mapped[uuid.UUID]  # the claim's `claimed_contract_version_id`
    outcome_code: Mapped[str] = mapped_column(String(100))
    month: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str | None] = mapped_column(String(3))
    claims: Mapped[int] = mapped_column(BigInteger)
    # Unbounded: a tally must never overflow where a claim's own NUMERIC(18, 3) fits.
    payable: Mapped[Decimal] = mapped_column(Numeric)


CLAIM_TALLY_KEY = (
    "partnership_id",
    "contract_id",
    "contract_version_id",
    "outcome_code",
    "month",
    "status",
    "currency",
)


class ClaimTally(_ClaimCounts, Base):
    __tablename__ = "claim_tallies"
    __table_args__ = (
        # A pending claim's currency is null: null must be one key value, not "distinct from everything".
        UniqueConstraint(*CLAIM_TALLY_KEY, name="uq_claim_tallies_key", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)


class ClaimTallyDelta(_ClaimCounts, Base):
    """A change to a claim tally not folded in yet: insert-only, like `ParticipantTallyDelta`."""

    __tablename__ = "claim_tally_deltas"
    __table_args__ = (Index("ix_claim_tally_deltas_partnership_id", "partnership_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)


class ContractEventCursor(Base):
    """How far the registry's change log has been recorded in the ledgers (contract_events.py): one row,
    locked while a page is appended, so two replicas never record the same event twice."""

    __tablename__ = "contract_event_cursors"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
