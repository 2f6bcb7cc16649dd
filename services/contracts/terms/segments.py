"""Segments: one segmentation of participants the terms declare (e.g. two vulnerability levels), recorded
for each participant at enrolment and never changed, and prices that follow it.

A `Price` is either an amount or `{"by_segment": {value: amount}}`, which must price every declared
value and no other, so no participant is ever left without a price and no price is written for nobody.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidatorFunctionWrapHandler, WrapValidator

from kit.text import FreeText
from services.contracts.terms.issues import Issue
from services.contracts.terms.money import Money, inexact
from services.contracts.terms.names import Code
from services.contracts.terms.strict import Strict


class Segments(Strict):
    name: Code = Field(description="What the segmentation is, e.g. `vulnerability`")
    description: FreeText = Field("", max_length=4000)
    values: list[Code] = Field(min_length=2, max_length=50, description="The segments, each once")


class BySegment(Strict):
    by_segment: dict[Code, Money] = Field(min_length=1, max_length=50)


_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)


def _price(data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Dispatch on the JSON type, so an error's path is the document's, without a union member's name.
    if isinstance(data, Mapping | BySegment):
        return BySegment.model_validate(data)
    return _MONEY.validate_python(data)


Price = Annotated[Money | BySegment, WrapValidator(_price)]


def amounts(price: Decimal | BySegment, path: str) -> Iterator[tuple[str, Decimal]]:
    """Each amount a price holds, at its path."""
    match price:
        case Decimal():
            yield path, price
        case BySegment():
            for value, amount in price.by_segment.items():
                yield f"{path}.by_segment.{value}", amount


def highest(price: Decimal | BySegment) -> Decimal:
    """The most the price can be for any participant."""
    return max(amount for _, amount in amounts(price, ""))


def segment_issues(segments: Segments | None) -> Iterator[Issue]:
    if segments is not None and len(set(segments.values)) != len(segments.values):
        yield Issue("segments.values", "each segment once")


def price_issues(
    price: Decimal | BySegment, path: str, segments: Segments | None, currency: str
) -> Iterator[Issue]:
    """A price's amounts exact to the currency, and its segments exactly the declared ones."""
    for at, amount in amounts(price, path):
        if reason := inexact(amount, currency):
            yield Issue(at, reason)
    if not isinstance(price, BySegment):
        return
    if segments is None:
        yield Issue(f"{path}.by_segment", "the terms declare no `segments` to price by")
        return
    for value in price.by_segment:
        if value not in segments.values:
            yield Issue(
                f"{path}.by_segment.{value}",
                f"`{value}` is not a value of the segmentation `{segments.name}` "
                f"({', '.join(segments.values)})",
            )
    missing = [value for value in segments.values if value not in price.by_segment]
    if missing:
        yield Issue(
            f"{path}.by_segment", "price every segment: " + ", ".join(f"`{v}`" for v in missing) + " unpriced"
        )


def amendment_segment_issues(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[Issue]:
    """An amendment keeps the segmentation of the version it amends: each participant's segment was
    recorded at enrolment under it, so a value dropped or renamed would leave participants unpriced, and
    one added (or a segmentation where there was none) would price participants never segmented."""

    def shape(document: Mapping[str, Any]) -> tuple[str, frozenset[str]] | None:
        segments = document.get("segments")
        return None if segments is None else (segments["name"], frozenset(segments["values"]))

    was, now = shape(before), shape(after)
    if was == now:
        return
    if was is None:
        yield Issue("segments", "the version this amends has no segments, so enrolled participants have none")
    else:
        values = ", ".join(sorted(was[1]))
        yield Issue(
            "segments",
            f"an amendment keeps the segmentation `{was[0]}` ({values}) of the version it amends: "
            "participants' segments were recorded under it; re-map its prices instead",
        )
