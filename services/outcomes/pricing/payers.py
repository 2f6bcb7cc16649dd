"""Who pays: a fixed split, the participant's municipality of residence, or a mixed split (fixed shares —
a national outcome fund topping up 30 % — and the rest by residence or fixed shares); a payer's own price
for an outcome, on top; and per-payer maxima that cut only that payer's line.

Splits are exact: parts are whole minor units by largest remainder (ties: the order given) and always
sum to the amount split. Without payer prices the tariff and the payable amount are each split by the
shares, exactly as version 1 did; with them, the payable amount is split in proportion to each payer's
tariff share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import assert_never
from uuid import UUID

from services.outcomes.pricing.caps import Cut, Line
from services.outcomes.pricing.money import ZERO, minor_unit, to_units
from services.outcomes.pricing.refusals import Refused

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Share:
    organisation_id: UUID
    percent: Decimal


@dataclass(frozen=True, slots=True)
class SplitLine:
    organisation_id: UUID
    amount: Decimal


@dataclass(frozen=True, slots=True)
class FixedSplit:
    shares: tuple[Share, ...]


@dataclass(frozen=True, slots=True)
class ResidenceSplit:
    municipalities: tuple[tuple[UUID, str], ...]  # (organisation id, municipality code)


@dataclass(frozen=True, slots=True)
class MixedSplit:
    fixed: tuple[Share, ...]
    rest: FixedSplit | ResidenceSplit


Split = FixedSplit | ResidenceSplit | MixedSplit


def largest_remainder(total_units: int, weights: Sequence[Decimal]) -> list[int]:
    """`total_units` apportioned by the weights in whole units, summing exactly (ties: the order given)."""
    whole = sum(weights, ZERO)
    if whole == 0:
        return [0 for _ in weights]
    exact = [Decimal(total_units) * w / whole for w in weights]
    floors = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
    leftover = total_units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors


def split_fixed(amount: Decimal, shares: Sequence[Share], currency: str) -> list[SplitLine]:
    """Fixed percentages, rounded to the minor unit by largest remainder (ties: the order given).

    The parts sum exactly to `amount`; a zero amount gives zero parts.
    """
    if sum((s.percent for s in shares), ZERO) != HUNDRED:
        raise ValueError("shares must sum to exactly 100 percent")
    if any(s.percent < 0 for s in shares):
        raise ValueError("shares must not be negative")
    unit = minor_unit(currency)
    units = largest_remainder(to_units(amount, currency), [s.percent for s in shares])
    return [SplitLine(s.organisation_id, Decimal(u) * unit) for s, u in zip(shares, units, strict=True)]


def split_residence(
    amount: Decimal, municipalities: Sequence[tuple[UUID, str]], municipality_code: str
) -> list[SplitLine]:
    """The participant's municipality of residence pays all of it."""
    for organisation_id, code in municipalities:
        if code == municipality_code:
            return [SplitLine(organisation_id, amount)]
    raise LookupError(f"no paying municipality has code {municipality_code}")


def _home(split: ResidenceSplit, municipality_code: str) -> UUID:
    for organisation_id, code in split.municipalities:
        if code == municipality_code:
            return organisation_id
    raise Refused(
        f"municipality {municipality_code} is not a paying party of the contract", path="municipality_code"
    )


def shares_for(split: Split, municipality_code: str) -> tuple[Share, ...]:
    """The percentages each payer carries for this participant (one payer may appear once only)."""
    if isinstance(split, FixedSplit):
        return split.shares
    if isinstance(split, ResidenceSplit):
        return (Share(_home(split, municipality_code), HUNDRED),)
    if isinstance(split, MixedSplit):
        rest = HUNDRED - sum((s.percent for s in split.fixed), ZERO)
        merged: dict[UUID, Decimal] = {s.organisation_id: s.percent for s in split.fixed}
        for share in shares_for(split.rest, municipality_code):
            merged[share.organisation_id] = (
                merged.get(share.organisation_id, ZERO) + share.percent * rest / HUNDRED
            )
        return tuple(Share(org, percent) for org, percent in merged.items())
    assert_never(split)


def payers_of(split: Split) -> list[UUID]:
    """Every organisation the split may charge, in the terms' order."""
    if isinstance(split, FixedSplit):
        return [s.organisation_id for s in split.shares]
    if isinstance(split, ResidenceSplit):
        return [org for org, _ in split.municipalities]
    if isinstance(split, MixedSplit):
        found = [s.organisation_id for s in split.fixed]
        return found + [org for org in payers_of(split.rest) if org not in found]
    assert_never(split)


def payers_for(split: Split, municipality_code: str, own: Sequence[UUID] = ()) -> list[UUID]:
    """Who one participant's claim is charged to: the split's payers for its municipality, then the payers
    with a price of their own for the outcome (`own`); none when no paying municipality has its code."""
    try:
        found = [s.organisation_id for s in shares_for(split, municipality_code)]
    except Refused:
        found = []
    return found + [org for org in own if org not in found]


def lines_for(
    tariff: Decimal,
    payable: Decimal,
    shares: Sequence[Share],
    own: Sequence[tuple[UUID, Decimal]],
    currency: str,
) -> list[Line]:
    """Each payer's tariff share and amount; `own` are payers' own prices, inside `tariff` already."""
    unit = minor_unit(currency)
    base = tariff - sum((amount for _, amount in own), ZERO)
    tariffs = dict.fromkeys([s.organisation_id for s in shares] + [org for org, _ in own], 0)
    for s, units in zip(
        shares, largest_remainder(to_units(base, currency), [s.percent for s in shares]), strict=True
    ):
        tariffs[s.organisation_id] += units
    for org, amount in own:
        tariffs[org] += to_units(amount, currency)
    if own:
        weights = [Decimal(units) for units in tariffs.values()]
        amounts = largest_remainder(to_units(payable, currency), weights)
    else:
        amounts = largest_remainder(to_units(payable, currency), [s.percent for s in shares])
    return [
        Line(org, Decimal(t) * unit, Decimal(a) * unit)
        for (org, t), a in zip(tariffs.items(), amounts, strict=True)
    ]


def cap_payers(
    lines: Sequence[Line], maxima: Mapping[UUID, Decimal], paid: Mapping[UUID, Decimal]
) -> tuple[list[Line], list[Cut]]:
    """Each payer's line cut to the room its own maximum leaves; the others unchanged."""
    capped, cuts = [], []
    for line in lines:
        maximum = maxima.get(line.organisation_id)
        if maximum is not None:
            room = max(maximum - paid.get(line.organisation_id, ZERO), ZERO)
            if line.amount > room:
                cuts.append(Cut(f"per_payer:{line.organisation_id}", line.amount - room))
                line = Line(line.organisation_id, line.tariff_share, room)
        capped.append(line)
    return capped, cuts
