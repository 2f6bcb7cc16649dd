"""A frozen copy of the version-1 pricing module (services/outcomes/pricing.py before the engine of issue
14), kept only as the oracle that version-1 terms must still price exactly as they did. Never edit it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from uuid import UUID

# Currencies whose minor unit is not two digits; every other ISO 4217 code the registry accepts has two.
MINOR_UNITS = {
    "ISK": 0, "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "UGX": 0, "XOF": 0, "XAF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}  # fmt: skip
STORED_DIGITS = 2  # amounts are NUMERIC(14, 2)
ZERO = Decimal(0)


def supported(currency: str) -> bool:
    """Whether amounts in the currency fit the stored scale."""
    return MINOR_UNITS.get(currency, 2) <= STORED_DIGITS


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def quantise(amount: Decimal, currency: str) -> Decimal:
    """The amount at the currency's exponent; refuses amounts that would need rounding."""
    unit = minor_unit(currency)
    exact = amount.quantize(unit)
    if exact != amount:
        raise ValueError(f"{amount} is not exact to the {currency} minor unit")
    return exact


@dataclass(frozen=True, slots=True)
class Caps:
    per_participant: Decimal | None = None
    contract_total: Decimal | None = None
    per_period: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CapUsage:
    """What has already been paid against each cap before this claim."""

    participant: Decimal = ZERO
    contract: Decimal = ZERO
    period: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Cut:
    cap: str  # per_participant | contract_total | per_period
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Price:
    tariff: Decimal
    payable: Decimal
    cuts: tuple[Cut, ...] = field(default=())

    @property
    def cut(self) -> Decimal:
        return self.tariff - self.payable


def price_claim(tariff: Decimal, caps: Caps, usage: CapUsage) -> Price:
    """Tariff, then per participant, contract total and per period caps, in that order."""
    payable = tariff
    cuts: list[Cut] = []
    for name, cap, used in (
        ("per_participant", caps.per_participant, usage.participant),
        ("contract_total", caps.contract_total, usage.contract),
        ("per_period", caps.per_period, usage.period),
    ):
        if cap is None:
            continue
        room = max(cap - used, ZERO)
        if payable > room:
            cuts.append(Cut(name, payable - room))
            payable = room
    return Price(tariff=tariff, payable=payable, cuts=tuple(cuts))


@dataclass(frozen=True, slots=True)
class Share:
    organisation_id: UUID
    percent: Decimal


@dataclass(frozen=True, slots=True)
class SplitLine:
    organisation_id: UUID
    amount: Decimal


def split_fixed(amount: Decimal, shares: Sequence[Share], currency: str) -> list[SplitLine]:
    """Fixed percentages, rounded to the minor unit by largest remainder (ties: the order given).

    The parts sum exactly to `amount`; a zero amount gives zero parts.
    """
    if sum((s.percent for s in shares), ZERO) != Decimal(100):
        raise ValueError("shares must sum to exactly 100 percent")
    if any(s.percent < 0 for s in shares):
        raise ValueError("shares must not be negative")
    unit = minor_unit(currency)
    total_units = int(quantise(amount, currency) / unit)
    exact = [Decimal(total_units) * s.percent / Decimal(100) for s in shares]
    floors = [int(e.to_integral_value(rounding=ROUND_FLOOR)) for e in exact]
    leftover = total_units - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [
        SplitLine(s.organisation_id, Decimal(units) * unit) for s, units in zip(shares, floors, strict=True)
    ]


def split_residence(
    amount: Decimal, municipalities: Sequence[tuple[UUID, str]], municipality_code: str
) -> list[SplitLine]:
    """The participant's municipality of residence pays all of it."""
    for organisation_id, code in municipalities:
        if code == municipality_code:
            return [SplitLine(organisation_id, amount)]
    raise LookupError(f"no paying municipality has code {municipality_code}")
