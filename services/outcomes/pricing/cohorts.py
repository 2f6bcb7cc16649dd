"""Cohort formula outcomes: a payment for a whole cohort from the measured results of the cohort and its
comparison group (docs/contract-terms.md, "Cohort formula outcomes"), with its working.

    gain per person (each measure) = comparison - cohort   (better: lower, e.g. benefits paid)
                                   = cohort - comparison   (better: higher, e.g. taxes paid)
    gain per person                = the sum over the measures
    gain                           = gain per person x cohort size
    share                          = gain x share_percent / 100            (exact)
    rounded                        = share, half up to the currency's minor unit
    payment                        = rounded, bounded to [lower, upper]:
                                     upper = cap - paid before; lower = 0, or -paid before when the terms
                                     let a loss be repaid

Invariants: pure and exact (the figures are decimals of bounded size, computed at a precision no product
of them can exceed, so nothing is rounded but `rounded`, once); the same inputs always give the same
payment and working; the payment is never negative unless the terms allow it, and never more than the
cap less what was paid before, nor repays more than was paid. A measure missing from, or unknown to, the
figures is an error, never a zero.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import assert_never
from uuid import UUID

from services.outcomes.pricing.money import ZERO, minor_unit, quantise, text

# Figures have at most 15 integer digits and 6 decimals, sizes at most 8 digits, shares 3+4: a product
# of them needs under 40 significant digits, so at 60 no operation rounds.
PRECISION = 60


class Better(enum.Enum):
    LOWER = "lower"
    HIGHER = "higher"


@dataclass(frozen=True, slots=True)
class Measure:
    code: str
    better: Better


@dataclass(frozen=True, slots=True)
class Formula:
    """A cohort outcome as the engine reads it."""

    code: str
    payer: UUID
    measures: tuple[Measure, ...]
    share_percent: Decimal
    cap: Decimal
    may_be_negative: bool


@dataclass(frozen=True, slots=True)
class Figure:
    """One measure's per-person figures, as the evaluator measured them."""

    code: str
    cohort: Decimal
    comparison: Decimal


@dataclass(frozen=True, slots=True)
class Gain:
    code: str
    better: Better
    cohort: Decimal
    comparison: Decimal
    per_person: Decimal


@dataclass(frozen=True, slots=True)
class Payment:
    """The computed payment and every intermediate value of its working."""

    gains: tuple[Gain, ...]
    cohort_size: int
    gain_per_person: Decimal
    gain: Decimal
    share: Decimal  # exact, before rounding
    rounded: Decimal
    paid_before: Decimal
    lower: Decimal
    upper: Decimal
    amount: Decimal
    bound: str | None  # "cap" or "floor" when a bound changed the rounded amount


def gain_of(better: Better, cohort: Decimal, comparison: Decimal) -> Decimal:
    match better:
        case Better.LOWER:
            return comparison - cohort
        case Better.HIGHER:
            return cohort - comparison
        case _:
            assert_never(better)


def compute(
    formula: Formula, figures: Sequence[Figure], cohort_size: int, paid_before: Decimal, currency: str
) -> Payment:
    """The payment for one cohort and period; `ValueError` when the figures do not name exactly the
    formula's measures, once each, or the cohort is empty, or what was paid before is not a valid
    amount."""
    by_code = {f.code: f for f in figures}
    expected = [m.code for m in formula.measures]
    if len(by_code) != len(figures) or sorted(by_code) != sorted(expected):
        raise ValueError(f"the figures must name the measures {expected}, each once")
    if cohort_size < 1:
        raise ValueError("a cohort has at least one person")
    paid_before = quantise(paid_before, currency)
    if paid_before < 0 or paid_before > formula.cap:
        raise ValueError("what was paid before must be within 0 and the cap")
    with localcontext() as context:
        context.prec = PRECISION
        gains = tuple(
            Gain(m.code, m.better, by_code[m.code].cohort, by_code[m.code].comparison,
                 gain_of(m.better, by_code[m.code].cohort, by_code[m.code].comparison))
            for m in formula.measures
        )  # fmt: skip
        per_person = sum((g.per_person for g in gains), ZERO)
        gain = per_person * cohort_size
        share = gain * formula.share_percent / 100
        rounded = share.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    upper = formula.cap - paid_before
    lower = -paid_before if formula.may_be_negative else ZERO
    amount = min(max(rounded, lower), upper)
    bound = None if amount == rounded else ("cap" if rounded > upper else "floor")
    return Payment(
        gains, cohort_size, per_person, gain, share, rounded, paid_before, lower, upper, amount, bound
    )


def formula_text(formula: Formula) -> str:
    """The formula in words, as the working states it."""
    terms = " + ".join(
        f"(comparison - cohort) {m.code}" if m.better is Better.LOWER else f"(cohort - comparison) {m.code}"
        for m in formula.measures
    )
    floor = "-paid_before" if formula.may_be_negative else "0"
    return (
        f"min(max(round_half_up({formula.share_percent.normalize():f}% x ({terms}) x cohort_size), {floor}), "
        "cap - paid_before)"
    )


def _number(value: Decimal) -> str:
    # Intermediate values in their exact, plain form: "1234.5", "-0.25" (no exponent).
    normal = value.normalize()
    return f"{normal:f}" if normal != 0 else "0"


def working(formula: Formula, payment: Payment, currency: str) -> dict[str, object]:
    """The working as the ledger and the reads show it: inputs, formula, intermediate values, result and
    its rounding. Cohort figures are aggregates: nothing in it names or describes a person."""
    return {
        "formula": formula_text(formula),
        "inputs": {
            "cohort_size": payment.cohort_size,
            "share_percent": _number(formula.share_percent),
            "cap": text(formula.cap, currency),
            "paid_before": text(payment.paid_before, currency),
            "may_be_negative": formula.may_be_negative,
            "measures": [
                {
                    "code": g.code,
                    "better": g.better.value,
                    "cohort": _number(g.cohort),
                    "comparison": _number(g.comparison),
                }
                for g in payment.gains
            ],
        },
        "intermediate": {
            "gains_per_person": {g.code: _number(g.per_person) for g in payment.gains},
            "gain_per_person": _number(payment.gain_per_person),
            "gain": _number(payment.gain),
            "share": _number(payment.share),
        },
        "rounding": {
            "rule": "half up",
            "minor_unit": _number(minor_unit(currency)),
            "rounded": text(payment.rounded, currency),
        },
        "bounds": {
            "lower": text(payment.lower, currency),
            "upper": text(payment.upper, currency),
            "applied": payment.bound,
        },
        "amount": text(payment.amount, currency),
    }
