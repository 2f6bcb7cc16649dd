"""Cohort formula outcomes: a payment for a whole cohort from measured results against a comparison
group (Finland's employment SIB paid a share of the measured difference in benefits paid and taxes
against a randomised control group). Not arbitrary expressions: one formula, with its parts declared.

    gain per person = sum over measures of (comparison - cohort) when `better` is `lower`
                                        or (cohort - comparison) when `better` is `higher`
    payment         = share_percent / 100 x gain per person x cohort size
                      rounded half up to the currency's minor unit, then bounded: at least 0 (or, when
                      `may_be_negative`, at least minus what was paid before), at most `cap` less what
                      was paid before

The evaluator submits the per-person figures for a cohort and a period within the `horizon`; the payer
approves the computed payment; the outcome service books it on the payer's statement. `cap` bounds what
the cohort outcome pays in all, over every period, so it counts in what the contract can pay in all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, Percent, inexact
from services.contracts.terms.names import Code, Wording
from services.contracts.terms.strict import Strict


class CohortMeasure(Strict):
    code: Code
    name: Wording = Field(min_length=1, max_length=200)
    better: Literal["lower", "higher"] = Field(
        description="`lower`: a cohort figure below the comparison group's is a gain (benefits paid); "
        "`higher`: a figure above it is (taxes paid)"
    )


class Horizon(Strict):
    start: date = Field(description="The first day a measured period may cover")
    end: date = Field(description="The last day a measured period may cover")


class CohortOutcome(Strict):
    code: Code
    name: Wording = Field(min_length=1, max_length=200)
    payer_organisation_id: UUID = Field(description="The outcome payer that pays, and approves, it")
    comparison: Literal["randomised_control", "matched_comparison"] = Field(
        description="How the comparison group was formed (stated in the working)"
    )
    measures: list[CohortMeasure] = Field(min_length=1, max_length=10)
    share_percent: Percent = Field(description="The share of the measured gain that is paid")
    horizon: Horizon
    max_cohort_size: int = Field(ge=1, le=10_000_000)
    cap: Money = Field(description="The most this cohort outcome pays in all, over every period")
    may_be_negative: bool = Field(
        False,
        description="Whether a loss against the comparison group is repaid to the payer (never more than "
        "was paid before); otherwise a loss pays 0",
    )


def cohort_issues(
    cohorts: Sequence[CohortOutcome], payers: Sequence[UUID], start: date, end: date, currency: str
) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, cohort in enumerate(cohorts):
        at = f"cohort_outcomes.{i}"
        if cohort.code in seen:
            yield Issue(f"{at}.code", f"duplicate cohort outcome code {cohort.code!r}")
        seen.add(cohort.code)
        if cohort.payer_organisation_id not in payers:
            yield Issue(f"{at}.payer_organisation_id", "must be an outcome_payer party")
        measures: set[str] = set()
        for j, measure in enumerate(cohort.measures):
            if measure.code in measures:
                yield Issue(f"{at}.measures.{j}.code", f"duplicate measure code {measure.code!r}")
            measures.add(measure.code)
        horizon = cohort.horizon
        if horizon.end < horizon.start:
            yield Issue(f"{at}.horizon.end", "must not be before horizon.start")
        for name, day in (("start", horizon.start), ("end", horizon.end)):
            if not start <= day <= end:
                yield Issue(f"{at}.horizon.{name}", f"must fall within the contract ({start} to {end})")
        if cohort.cap <= 0:
            yield Issue(f"{at}.cap", "must be more than zero")
        elif reason := inexact(cohort.cap, currency):
            yield Issue(f"{at}.cap", reason)


def cohort_total(cohorts: Sequence[CohortOutcome]) -> Decimal:
    """What every cohort outcome can pay in all: their caps."""
    return sum((c.cap for c in cohorts), Decimal(0))
