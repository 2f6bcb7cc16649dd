"""Money in the engine: exact `Decimal`s at the currency's minor unit, never floats, never rounded.

Minor units come from ISO 4217's published table (the `iso4217` package), so every active currency is
known with its real exponent (ARS 2, JPY 0, BHD 3); amounts are stored as NUMERIC(18, 3).
"""

from __future__ import annotations

from decimal import Decimal

from iso4217 import Currency

STORED_DIGITS = 3  # amounts are NUMERIC(18, 3)
ZERO = Decimal(0)


def digits(currency: str) -> int:
    """The currency's minor unit digits; `ValueError` for a code that is not a currency with one."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        exponent = None
    if exponent is None:
        raise ValueError(f"{currency} is not an ISO 4217 currency with a minor unit")
    return int(exponent)


def supported(currency: str) -> bool:
    """Whether amounts in the currency fit the stored scale."""
    try:
        return digits(currency) <= STORED_DIGITS
    except ValueError:
        return False


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-digits(currency))


def quantise(amount: Decimal, currency: str) -> Decimal:
    """The amount at the currency's exponent; refuses amounts that would need rounding."""
    unit = minor_unit(currency)
    exact = amount.quantize(unit)
    if exact != amount:
        raise ValueError(f"{amount} is not exact to the {currency} minor unit")
    return exact


def to_units(amount: Decimal, currency: str) -> int:
    return int(quantise(amount, currency) / minor_unit(currency))


def text(amount: Decimal, currency: str) -> str:
    """The amount as the service has always written it: two decimals, three for a three-digit currency."""
    return f"{amount:.{max(2, digits(currency))}f}"


def factor_text(factor: Decimal) -> str:
    """A price factor (indexation's) exactly, in its shortest form: "1", "1.035", "1.12063808574277168"."""
    return format(factor.normalize(), "f")
