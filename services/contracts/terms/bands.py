"""Bands: one outcome family whose price follows a reported numeric fact (part-time 8-16 hours a week,
full-time from 16). The engine classifies each claim into its band from the fact, so the provider never
chooses; the bands are half-open `[from, to)`, ordered, without gaps or overlaps, so a value falls in at
most one band (a value below the first band's `from` in none: the claim is refused). The last band alone
may be open (`to: null`). A band is priced by `tariff` or by its own `tiers`, never both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from kit.text import FreeText
from services.contracts.terms.facts import DecimalFact, Fact, IntegerFact
from services.contracts.terms.issues import Issue
from services.contracts.terms.money import no_float
from services.contracts.terms.names import Code
from services.contracts.terms.segments import Price, Segments, price_issues
from services.contracts.terms.strict import Strict
from services.contracts.terms.tiers import Tier, tier_issues

Bound = Annotated[
    Decimal,
    BeforeValidator(no_float),
    Field(allow_inf_nan=False, max_digits=18, decimal_places=6),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$", "examples": ["16"]}),
]


class Band(Strict):
    code: Code = Field(description="Stable, unique in the family; statements name the band by it")
    name: FreeText = Field("", max_length=200)
    from_: Bound = Field(alias="from", description="Lowest value in the band (inclusive)")
    to: Bound | None = Field(description="First value above the band (exclusive); null: no upper bound")
    tariff: Price | None = None
    tiers: list[Tier] | None = Field(None, min_length=2)


class Bands(Strict):
    fact: Code = Field(description="The declared decimal or integer fact the bands divide")
    bands: list[Band] = Field(min_length=2, max_length=50)


def band_issues(
    family: Bands, path: str, facts: Mapping[str, Fact], segments: Segments | None, currency: str
) -> Iterator[Issue]:
    fact = facts.get(family.fact)
    if fact is None:
        yield Issue(f"{path}.fact", f"no fact named {family.fact!r} is declared in `facts`")
    elif not isinstance(fact, DecimalFact | IntegerFact):
        yield Issue(f"{path}.fact", f"bands divide a decimal or integer fact; `{fact.name}` is a {fact.type}")
    codes: set[str] = set()
    for j, band in enumerate(family.bands):
        at = f"{path}.bands.{j}"
        if band.code in codes:
            yield Issue(f"{at}.code", f"duplicate band code {band.code!r}")
        codes.add(band.code)
        if isinstance(fact, IntegerFact):
            for key, bound in (("from", band.from_), ("to", band.to)):
                if bound is not None and bound != bound.to_integral_value():
                    yield Issue(f"{at}.{key}", f"`{fact.name}` is an integer: bounds are whole numbers")
        if band.to is not None and band.to <= band.from_:
            yield Issue(f"{at}.to", f"must be above `from` ({band.from_}): a band is [from, to)")
        if j < len(family.bands) - 1:
            after = family.bands[j + 1]
            if band.to is None:
                yield Issue(f"{at}.to", "only the last band may be open (null)")
            elif after.from_ < band.to:
                yield Issue(
                    f"{path}.bands.{j + 1}.from",
                    f"overlaps the band before, which runs to {band.to}: bands are ordered, without overlaps",
                )
            elif after.from_ > band.to:
                yield Issue(
                    f"{path}.bands.{j + 1}.from",
                    f"leaves a gap after {band.to}: start this band where the one before ends",
                )
        if (band.tariff is None) == (band.tiers is None):
            yield Issue(at, "give the band exactly one of `tariff` or `tiers`")
        elif band.tariff is not None:
            yield from price_issues(band.tariff, f"{at}.tariff", segments, currency)
        elif band.tiers is not None:
            yield from tier_issues(band.tiers, f"{at}.tiers", segments, currency)
