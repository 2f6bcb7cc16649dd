"""Money in the engine: exact `Decimal`s at the currency's minor unit, never floats, never rounded."""

from __future__ import annotations

from decimal import Decimal

# Currencies whose minor unit is not two digits; every other ISO 4217 code the registry accepts has two.
MINOR_UNITS = {
    "ISK": 0, "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "UGX": 0, "XOF": 0, "XAF": 0, "PYG": 0, "RWF": 0,
    "BIF": 0, "DJF": 0, "GNF": 0, "KMF": 0, "VUV": 0, "XPF": 0, "UYI": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip
STORED_DIGITS = 2  # amounts are NUMERIC(14, 2)
ZERO = Decimal(0)


def digits(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def supported(currency: str) -> bool:
    """Whether amounts in the currency fit the stored scale."""
    return digits(currency) <= STORED_DIGITS


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
