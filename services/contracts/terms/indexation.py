"""Indexation: contracted price increases from a date, each step either a percentage (compounding on the
prices before it) or an index value (prices become `index / base_index` of the contracted ones). The
outcome service prices each claim at the factor in force on its achievement date; tranches are fixed sums
and are not indexed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Percent, no_float
from services.contracts.terms.strict import Strict

IndexValue = Annotated[
    Decimal,
    BeforeValidator(no_float),
    Field(gt=0, le=1_000_000, max_digits=11, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,7}(\.[0-9]{1,4})?$",
            "description": "An index value above 0 (a published price index), up to four decimals",
            "examples": ["112.4"],
        }
    ),
]


class IndexStep(Strict):
    from_: date = Field(alias="from", description="Claims achieved on or after this date are priced at it")
    percent: Percent | None = Field(None, description="A rise on the prices before this step")
    index: IndexValue | None = Field(None, description="Prices become `index / base_index` of the contracted")


class Indexation(Strict):
    base_index: IndexValue | None = Field(None, description="The index value the contracted prices are at")
    steps: list[IndexStep] = Field(min_length=1, max_length=100)


def indexation_issues(indexation: Indexation | None, start: date, end: date) -> Iterator[Issue]:
    if indexation is None:
        return
    previous: date | None = None
    uses_index = False
    for i, step in enumerate(indexation.steps):
        at = f"indexation.steps.{i}"
        if (step.percent is None) == (step.index is None):
            yield Issue(at, "give exactly one of `percent` or `index`")
        uses_index = uses_index or step.index is not None
        if not start <= step.from_ <= end:
            yield Issue(f"{at}.from", f"must fall within the contract ({start} to {end})")
        if previous is not None and step.from_ <= previous:
            yield Issue(f"{at}.from", "must be after the step before it")
        previous = step.from_
    if uses_index and indexation.base_index is None:
        yield Issue("indexation.base_index", "an `index` step needs the `base_index` the prices are at")
    if not uses_index and indexation.base_index is not None:
        yield Issue("indexation.base_index", "no step gives an `index`: leave `base_index` out")


def highest_factor(indexation: Indexation | None) -> Decimal:
    """The largest factor any step brings prices to (at least 1: the contracted prices themselves)."""
    factor, most = Decimal(1), Decimal(1)
    for step in indexation.steps if indexation is not None else []:
        if step.percent is not None:
            factor *= 1 + step.percent / 100
        elif step.index is not None and indexation is not None and indexation.base_index is not None:
            factor = step.index / indexation.base_index
        most = max(most, factor)
    return most
