"""Contract terms, schema version 2 (docs/contract-terms.md): every claim-level mechanism of a published
rate card, each validated in its own module: facts and criteria (`facts`), bands (`bands`), volume tiers
(`tiers`), segments and per-segment prices (`segments`), repeats and restarts (`repeats`), caps at every
scope (`caps`), several payers with their own prices, maxima and mixed splits (`payers`); and the
contract-level payments no claim triggers: fixed and guaranteed tranches by date (`tranches`); and price
increases from a date by a percentage or an index value (`indexation`); temporary variations, periods
paid by fixed scenario payments instead of outcome prices (`variations`); post-payment audits of paid
claims with clawback and optional extrapolation (`audits`); and cohort formula outcomes, a share of a
measured gain against a comparison group (`cohorts`).

An outcome is priced by exactly one of `tariff`, `tiers` or `bands`. An amendment's `start_date` is the
date it takes effect from, which may be before it is signed: the outcome service re-prices what was
achieved from then on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from kit.text import FreeText
from services.contracts.terms import parties as parties_
from services.contracts.terms.audits import AuditRule, audit_issues
from services.contracts.terms.bands import Bands, band_issues
from services.contracts.terms.canonical import explicit_sole_payer, fix_money
from services.contracts.terms.caps import CapsV2, OutcomeCap, cap_issues, outcome_cap_issues
from services.contracts.terms.cohorts import CohortOutcome, cohort_issues, cohort_total
from services.contracts.terms.disclosure import Disclosure
from services.contracts.terms.facts import (
    Criterion,
    DecimalFact,
    Fact,
    criterion_issues,
    decimal_text,
    fact_issues,
)
from services.contracts.terms.indexation import Indexation, highest_factor, indexation_issues
from services.contracts.terms.issues import Issue
from services.contracts.terms.money import currency_issue, plain, total_issues
from services.contracts.terms.names import OutcomeCode, VerifierRole, Wording
from services.contracts.terms.parties import Party, Termination
from services.contracts.terms.payers import (
    FixedSplit,
    MixedSplit,
    PayerSplit,
    PayerTariff,
    payer_tariff_issues,
    split_issues,
)
from services.contracts.terms.repeats import Repeat, ending_issues
from services.contracts.terms.segments import (
    BySegment,
    Price,
    Segments,
    highest,
    price_issues,
    segment_issues,
)
from services.contracts.terms.strict import Strict
from services.contracts.terms.tiers import Tier, tier_issues
from services.contracts.terms.tranches import Tranche, tranche_issues, tranche_total
from services.contracts.terms.variations import Variation, variation_issues, variation_total
from services.contracts.terms.windows import Window, cycle_issues, duplicate_code_issues, sequencing_issues


class OutcomeV2(Strict):
    code: OutcomeCode
    name: Wording = Field(min_length=1, max_length=200)
    description: FreeText = Field("", max_length=4000)
    evidence_required: FreeText = Field("", max_length=4000)
    verifier_roles: list[VerifierRole] = Field(min_length=1)
    prerequisites: list[OutcomeCode] = Field(default_factory=list)
    window: Window
    criteria: list[Criterion] = Field(default_factory=list, max_length=50, description="All must hold")
    repeat: Repeat = Repeat()
    ended_by: list[OutcomeCode] = Field(
        default_factory=list, max_length=20, description="Outcomes that end this one (a start) when achieved"
    )
    tariff: Price | None = None
    tiers: list[Tier] | None = Field(None, min_length=2, max_length=50)
    bands: Bands | None = None
    cap: OutcomeCap | None = None
    payer_tariffs: list[PayerTariff] = Field(default_factory=list, max_length=100)


class TermsV2(Strict):
    """A contract version's terms (schema version 2). Unknown keys are refused."""

    schema_version: Literal[2]
    title: Wording = Field(min_length=1, max_length=300)
    start_date: date = Field(description="For an amendment, the date it takes effect from; may be past")
    end_date: date
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="Active ISO 4217 code")
    target_group: FreeText = Field("", max_length=4000)
    eligibility_criteria: list[Annotated[Wording, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list
    )
    max_participants: int | None = Field(None, ge=1, le=10_000_000)
    payment_period: Literal["monthly", "quarterly"]
    payment_terms_days: int = Field(ge=0, le=365)
    statement_basis: Literal["verification", "achievement"] = Field(
        "verification", description="Whether a claim falls in the period it was verified or achieved in"
    )
    parties: list[Party] = Field(min_length=1)
    facts: list[Fact] = Field(default_factory=list, max_length=100)
    segments: Segments | None = None
    outcomes: list[OutcomeV2] = Field(min_length=1, max_length=200)
    caps: CapsV2 = CapsV2()
    payer_split: PayerSplit | None = None
    termination: Termination | None = None
    disclosure: Disclosure | None = None
    tranches: list[Tranche] = Field(
        default_factory=list, max_length=50, description="Payments by date, not linked to outcomes"
    )
    indexation: Indexation | None = Field(None, description="Price increases from a date")
    variations: list[Variation] = Field(
        default_factory=list, max_length=20, description="Periods paid by fixed scenario payments instead"
    )
    audits: list[AuditRule] = Field(
        default_factory=list, max_length=50, description="Post-payment audits of paid claims, per payer"
    )
    cohort_outcomes: list[CohortOutcome] = Field(
        default_factory=list, max_length=20, description="Payments for a cohort against a comparison group"
    )

    def party(self, organisation_id: UUID) -> Party | None:
        return parties_.party(self.parties, organisation_id)

    def signing_parties(self) -> list[UUID]:
        return parties_.signing_parties(self.parties)

    def may_terminate_alone(self, organisation_id: UUID) -> bool:
        """Whether the terms grant this party unilateral termination (with `termination.notice_days`)."""
        return parties_.may_terminate_alone(self.parties, self.termination, organisation_id)


def check(terms: TermsV2) -> Iterator[Issue]:
    """Every cross-field rule a version-2 document breaks."""
    if terms.end_date < terms.start_date:
        yield Issue("end_date", "must not be before start_date")
    if reason := currency_issue(terms.currency):
        yield Issue("currency", reason)
        return  # every amount's exactness depends on the currency
    payers = parties_.payers(terms.parties)
    yield from parties_.party_issues(terms.parties)
    yield from fact_issues(terms.facts)
    yield from segment_issues(terms.segments)
    yield from _outcome_issues(terms, payers)
    yield from cap_issues(terms.caps, payers, terms.currency)
    yield from split_issues(terms.payer_split, payers)
    yield from tranche_issues(terms.tranches, payers, terms.start_date, terms.end_date, terms.currency)
    yield from indexation_issues(terms.indexation, terms.start_date, terms.end_date)
    yield from variation_issues(terms.variations, payers, terms.start_date, terms.end_date, terms.currency)
    yield from audit_issues(terms.audits, payers, terms.currency)
    most = most_payable(terms)
    if most is not None and terms.caps.contract_total is None:
        most *= highest_factor(terms.indexation)  # a cap binds indexed prices too; otherwise they grow
    yield from cohort_issues(terms.cohort_outcomes, payers, terms.start_date, terms.end_date, terms.currency)
    scheduled = (
        tranche_total(terms.tranches)
        + variation_total(terms.variations)
        + cohort_total(terms.cohort_outcomes)
    )
    yield from total_issues(None if most is None else most + scheduled)
    yield from parties_.termination_issues(terms.termination, terms.parties)


def _outcome_issues(terms: TermsV2, payers: list[UUID]) -> Iterator[Issue]:
    codes, duplicates = duplicate_code_issues([o.code for o in terms.outcomes])
    yield from duplicates
    facts = {f.name: f for f in terms.facts}
    for i, outcome in enumerate(terms.outcomes):
        at = f"outcomes.{i}"
        yield from sequencing_issues(i, outcome.code, outcome.prerequisites, outcome.window, codes)
        yield from ending_issues(i, outcome.code, outcome.ended_by, codes)
        for j, criterion in enumerate(outcome.criteria):
            yield from criterion_issues(criterion, f"{at}.criteria.{j}", facts)
        given = [name for name in ("tariff", "tiers", "bands") if getattr(outcome, name) is not None]
        if len(given) != 1:
            yield Issue(
                at,
                "price the outcome by exactly one of `tariff`, `tiers` or `bands`"
                + (f", not {' and '.join(f'`{g}`' for g in given)}" if given else ""),
            )
        if outcome.tariff is not None:
            yield from price_issues(outcome.tariff, f"{at}.tariff", terms.segments, terms.currency)
        if outcome.tiers is not None:
            yield from tier_issues(outcome.tiers, f"{at}.tiers", terms.segments, terms.currency)
        if outcome.bands is not None:
            yield from band_issues(outcome.bands, f"{at}.bands", facts, terms.segments, terms.currency)
        if outcome.cap is not None:
            yield from outcome_cap_issues(outcome.cap, f"{at}.cap", terms.caps.contract_total, terms.currency)
        yield from payer_tariff_issues(
            outcome.payer_tariffs, f"{at}.payer_tariffs", payers, terms.segments, terms.currency
        )
    yield from cycle_issues([(o.code, o.prerequisites) for o in terms.outcomes], codes)


def highest_price(outcome: OutcomeV2) -> Decimal:
    """The most one achievement of the outcome can cost in all, its payers' own prices included."""
    prices: list[Decimal | BySegment] = []
    if outcome.tariff is not None:
        prices.append(outcome.tariff)
    for tier in outcome.tiers or []:
        prices.append(tier.tariff)
    for band in outcome.bands.bands if outcome.bands is not None else []:
        prices += [band.tariff] if band.tariff is not None else [t.tariff for t in band.tiers or []]
    base = max((highest(p) for p in prices), default=Decimal(0))
    return base + sum((highest(own.tariff) for own in outcome.payer_tariffs), Decimal(0))


def most_payable(terms: TermsV2) -> Decimal | None:
    """The most the contract can ever pay, or None when nothing bounds it: the contract cap, else the
    participant cap (or what one participant can earn) times the participants."""
    if terms.caps.contract_total is not None:
        return terms.caps.contract_total
    if terms.max_participants is None:
        return None
    each = sum((highest_price(o) * o.repeat.max_per_participant for o in terms.outcomes), Decimal(0))
    if terms.caps.per_participant is not None:
        each = min(each, terms.caps.per_participant)
    return each * terms.max_participants


def normalised(terms: TermsV2) -> dict[str, Any]:
    """The document as JSON (keys as written, `from` included), every amount at exactly the currency's
    minor unit, every other decimal in its shortest form, and a sole payer's split made explicit."""
    document = terms.model_dump(mode="json", by_alias=True)
    if terms.disclosure is None:
        # An optional block added within schema version 2 (docs/open-data.md): absent, a document hashes
        # as it always did.
        del document["disclosure"]
    currency = terms.currency

    def price(raw: Any, value: Decimal | BySegment) -> Any:
        if isinstance(value, BySegment):
            return {"by_segment": {k: fix_money(v, currency) for k, v in value.by_segment.items()}}
        return fix_money(value, currency)

    def tiers(raw: list[dict[str, Any]], values: list[Tier]) -> None:
        for raw_tier, tier in zip(raw, values, strict=True):
            raw_tier["tariff"] = price(raw_tier["tariff"], tier.tariff)

    facts: Mapping[str, Any] = {f.name: f for f in terms.facts}
    for raw, outcome in zip(document["outcomes"], terms.outcomes, strict=True):
        if outcome.tariff is not None:
            raw["tariff"] = price(raw["tariff"], outcome.tariff)
        if outcome.tiers is not None:
            tiers(raw["tiers"], outcome.tiers)
        if outcome.bands is not None:
            for raw_band, band in zip(raw["bands"]["bands"], outcome.bands.bands, strict=True):
                raw_band["from"] = plain(band.from_)
                raw_band["to"] = None if band.to is None else plain(band.to)
                if band.tariff is not None:
                    raw_band["tariff"] = price(raw_band["tariff"], band.tariff)
                if band.tiers is not None:
                    tiers(raw_band["tiers"], band.tiers)
        if outcome.cap is not None:
            raw["cap"]["amount"] = fix_money(outcome.cap.amount, currency)
        for raw_own, own in zip(raw["payer_tariffs"], outcome.payer_tariffs, strict=True):
            raw_own["tariff"] = price(raw_own["tariff"], own.tariff)
        for raw_criterion, criterion in zip(raw["criteria"], outcome.criteria, strict=True):
            if isinstance(facts.get(criterion.fact), DecimalFact):
                raw_criterion["value"] = _plain_values(criterion.value)
    for name in ("per_participant", "per_period", "contract_total"):
        document["caps"][name] = fix_money(getattr(terms.caps, name), currency)
    for raw_max, maximum in zip(document["caps"]["per_payer"], terms.caps.per_payer, strict=True):
        raw_max["amount"] = fix_money(maximum.amount, currency)
    explicit_sole_payer(document, parties_.payers(terms.parties))
    if terms.tranches:
        for raw_tranche, tranche in zip(document["tranches"], terms.tranches, strict=True):
            for raw_payment, payment in zip(raw_tranche["payments"], tranche.payments, strict=True):
                raw_payment["amount"] = fix_money(payment.amount, currency)
    else:
        # A document without tranches hashes as it did before tranches existed.
        del document["tranches"]
    if terms.audits:
        for raw_rule, rule in zip(document["audits"], terms.audits, strict=True):
            for name in ("sample_percent", "threshold_percent"):
                value = getattr(rule, name)
                raw_rule[name] = None if value is None else plain(value)
            raw_rule["extrapolation_cap"] = fix_money(rule.extrapolation_cap, currency)
    else:
        del document["audits"]  # likewise without audits
    if terms.indexation is None:
        del document["indexation"]  # likewise without indexation
    else:
        ix = terms.indexation
        document["indexation"]["base_index"] = None if ix.base_index is None else plain(ix.base_index)
        for raw_step, step in zip(document["indexation"]["steps"], ix.steps, strict=True):
            raw_step["percent"] = None if step.percent is None else plain(step.percent)
            raw_step["index"] = None if step.index is None else plain(step.index)
    if terms.variations:
        for raw_variation, variation in zip(document["variations"], terms.variations, strict=True):
            for raw_monthly, monthly in zip(raw_variation["payments"], variation.payments, strict=True):
                raw_monthly["monthly_amount"] = fix_money(monthly.monthly_amount, currency)
    else:
        del document["variations"]  # likewise without variations
    if not terms.cohort_outcomes:
        del document["cohort_outcomes"]  # likewise without cohort outcomes
    for raw_cohort, cohort in zip(document.get("cohort_outcomes", []), terms.cohort_outcomes, strict=True):
        raw_cohort["share_percent"] = plain(cohort.share_percent)
        raw_cohort["cap"] = fix_money(cohort.cap, currency)
    split = terms.payer_split
    shares = []
    if isinstance(split, FixedSplit):
        shares = [(document["payer_split"]["shares"], split.shares)]
    elif isinstance(split, MixedSplit):
        shares = [(document["payer_split"]["fixed"], split.fixed)]
        if isinstance(split.rest, FixedSplit):
            shares.append((document["payer_split"]["rest"]["shares"], split.rest.shares))
    for raw_shares, values in shares:
        for raw_share, share in zip(raw_shares, values, strict=True):
            raw_share["percent"] = plain(share.percent)
    return document


def _plain_values(value: Any) -> Any:
    # A decimal fact's comparand in its shortest form ("16.0" and 16 both become "16").
    if isinstance(value, list):
        return [_plain_values(v) for v in value]
    number = decimal_text(value)
    return value if number is None else plain(number)
