"""Indexation: the factor contracted prices are multiplied by on a date, from the terms' steps (each a
percentage rise compounding on the factor before it, or an index value setting the factor to
`index / base_index`), and a price indexed exactly to the currency's minor unit.

Pure and deterministic: the factor on a date depends only on the steps from on or before it; it is exact
for percentage steps and for index steps to 28 significant digits; an indexed price is rounded once, half
up, to the minor unit (the rule docs/contract-terms.md states).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import assert_never

from services.outcomes.pricing.money import minor_unit

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class PercentStep:
    from_: date
    percent: Decimal


@dataclass(frozen=True, slots=True)
class IndexStep:
    from_: date
    index: Decimal


Step = PercentStep | IndexStep


@dataclass(frozen=True, slots=True)
class Indexation:
    steps: tuple[Step, ...] = ()
    base_index: Decimal | None = None  # required by an `IndexStep`


def factor(indexation: Indexation, on: date) -> Decimal:
    """The factor prices are at on `on` (1 before the first step)."""
    found = ONE
    with localcontext() as context:
        context.prec = 28
        for step in sorted((s for s in indexation.steps if s.from_ <= on), key=lambda s: s.from_):
            match step:
                case PercentStep():
                    found *= ONE + step.percent / 100
                case IndexStep():
                    if indexation.base_index is None:
                        raise ValueError("an index step needs the base index")
                    found = step.index / indexation.base_index
                case _:
                    assert_never(step)
    return found


def indexed(amount: Decimal, at: Decimal, currency: str) -> Decimal:
    """`amount` at factor `at`, rounded half up to the currency's minor unit (exact when `at` is 1)."""
    if at == ONE:
        return amount
    return (amount * at).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def steps_of(raw: Sequence[tuple[date, Decimal | None, Decimal | None]]) -> tuple[Step, ...]:
    """Steps from (from, percent, index) triples, exactly one of the two given (as the registry checks)."""
    steps: list[Step] = []
    for day, percent, index in raw:
        if percent is not None:
            steps.append(PercentStep(day, percent))
        elif index is not None:
            steps.append(IndexStep(day, index))
        else:
            raise ValueError("an indexation step gives a percent or an index")
    return tuple(steps)
