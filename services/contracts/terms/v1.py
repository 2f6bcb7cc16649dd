"""Contract terms, schema version 1 (docs/contract-terms.md): one tariff per outcome, at most N per
participant, three contract caps, a fixed or residence split. Stored version-1 documents stay valid and
hash as they always did; new mechanisms are version 2 (`v2.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from kit.text import FreeText
from services.contracts.terms import parties as parties_
from services.contracts.terms.canonical import explicit_sole_payer, fix_money
from services.contracts.terms.disclosure import Disclosure
from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, currency_issue, inexact, plain, total_issues
from services.contracts.terms.names import OutcomeCode, VerifierRole, Wording
from services.contracts.terms.parties import Party, Termination
from services.contracts.terms.payers import FixedSplit, ResidenceSplit, split_issues
from services.contracts.terms.strict import Strict
from services.contracts.terms.windows import Window, cycle_issues, duplicate_code_issues, sequencing_issues


class Outcome(Strict):
    code: OutcomeCode
    name: Wording = Field(min_length=1, max_length=200)
    description: FreeText = Field("", max_length=4000)
    evidence_required: FreeText = Field("", max_length=4000)
    verifier_roles: list[VerifierRole] = Field(min_length=1)
    tariff: Money
    max_per_participant: int = Field(1, ge=1, le=1000)
    prerequisites: list[OutcomeCode] = Field(default_factory=list)
    window: Window


class Caps(Strict):
    per_participant: Money | None = None
    contract_total: Money | None = None
    per_period: Money | None = None


PayerSplit = Annotated[FixedSplit | ResidenceSplit, Field(discriminator="method")]


class TermsV1(Strict):
    """A contract version's terms (schema version 1). Unknown keys are refused."""

    schema_version: Literal[1] = 1
    title: Wording = Field(min_length=1, max_length=300)
    start_date: date
    end_date: date
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    target_group: FreeText = Field("", max_length=4000)
    eligibility_criteria: list[Annotated[Wording, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list
    )
    # Bounded: more people than Denmark holds is a typo, and past 2^53 the RFC 8785 form cannot be hashed.
    max_participants: int | None = Field(None, ge=1, le=10_000_000)
    payment_period: Literal["monthly", "quarterly"]
    payment_terms_days: int = Field(ge=0, le=365)
    parties: list[Party] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    caps: Caps = Caps()
    payer_split: PayerSplit | None = None
    termination: Termination | None = None
    disclosure: Disclosure | None = None

    def party(self, organisation_id: UUID) -> Party | None:
        return parties_.party(self.parties, organisation_id)

    def signing_parties(self) -> list[UUID]:
        return parties_.signing_parties(self.parties)

    def may_terminate_alone(self, organisation_id: UUID) -> bool:
        """Whether the terms grant this party unilateral termination (with `termination.notice_days`)."""
        return parties_.may_terminate_alone(self.parties, self.termination, organisation_id)


def check(terms: TermsV1) -> Iterator[Issue]:
    """Every cross-field rule a version-1 document breaks."""
    if terms.end_date < terms.start_date:
        yield Issue("end_date", "must not be before start_date")
    yield from _money_issues(terms)
    yield from parties_.party_issues(terms.parties)
    yield from _outcome_issues(terms)
    yield from split_issues(terms.payer_split, parties_.payers(terms.parties))
    yield from _total_issues(terms)
    yield from parties_.termination_issues(terms.termination, terms.parties)


def _money_issues(terms: TermsV1) -> Iterator[Issue]:
    if reason := currency_issue(terms.currency):
        yield Issue("currency", reason)
        return
    amounts: list[tuple[str, Decimal | None]] = [
        (f"outcomes.{i}.tariff", o.tariff) for i, o in enumerate(terms.outcomes)
    ]
    amounts += [(f"caps.{name}", getattr(terms.caps, name)) for name in Caps.model_fields]
    for path, amount in amounts:
        if amount is not None and (reason := inexact(amount, terms.currency)):
            yield Issue(path, reason)


def most_payable(terms: TermsV1) -> Decimal | None:
    """The most the contract can ever pay (what the outcome service's running sums reach), or None when
    nothing bounds it: the contract cap, else the participant cap times what one participant can earn."""
    if terms.caps.contract_total is not None:
        return terms.caps.contract_total
    if terms.max_participants is None:
        return None
    each = sum((o.tariff * o.max_per_participant for o in terms.outcomes), Decimal(0))
    if terms.caps.per_participant is not None:
        each = min(each, terms.caps.per_participant)
    return each * terms.max_participants


def _total_issues(terms: TermsV1) -> Iterator[Issue]:
    yield from total_issues(most_payable(terms))


def _outcome_issues(terms: TermsV1) -> Iterator[Issue]:
    codes, duplicates = duplicate_code_issues([o.code for o in terms.outcomes])
    yield from duplicates
    for i, outcome in enumerate(terms.outcomes):
        yield from sequencing_issues(i, outcome.code, outcome.prerequisites, outcome.window, codes)
    yield from cycle_issues([(o.code, o.prerequisites) for o in terms.outcomes], codes)


def normalised(terms: TermsV1) -> dict[str, Any]:
    """The document as JSON, money written to exactly the currency's minor unit and a sole payer's split
    made explicit, so two documents that mean the same thing hash the same."""
    document = terms.model_dump(mode="json")
    if terms.termination is None:
        # An optional block added within schema version 1: absent, a document hashes as it always did.
        del document["termination"]
    if terms.disclosure is None:
        del document["disclosure"]
    for raw, outcome in zip(document["outcomes"], terms.outcomes, strict=True):
        raw["tariff"] = fix_money(outcome.tariff, terms.currency)
    document["caps"] = {
        name: fix_money(getattr(terms.caps, name), terms.currency) for name in Caps.model_fields
    }
    explicit_sole_payer(document, parties_.payers(terms.parties))
    if isinstance(terms.payer_split, FixedSplit):
        for raw_share, share in zip(document["payer_split"]["shares"], terms.payer_split.shares, strict=True):
            raw_share["percent"] = plain(share.percent)
    return document
