"""Currencies and amounts: every active ISO 4217 currency with its minor unit (from `iso4217`, the
maintenance agency's published table), money as exact decimal strings, and the largest amount the
outcome service can store.

A currency is refused rather than guessed when the table gives it no minor unit (gold, SDRs, the test
code) or more decimals than the outcome service stores: a wrong exponent would make every price wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

from iso4217 import Currency
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from services.contracts.terms.issues import Issue

# The outcome service stores every amount as NUMERIC(18, 3) (agreed in /work/wt/brief/terms-v2.md):
# three decimals, at most fifteen digits before the point. An amount, or a sum of payments a contract
# allows, past that could be signed here and then never priced there, so the registry refuses it.
STORED_DECIMALS = 3
MAX_AMOUNT = Decimal("999999999999999")


def minor_unit(code: str) -> int | None:
    """The currency's ISO 4217 minor unit (decimals), or None when it is not a currency we can price in."""
    try:
        currency = Currency(code)
    except ValueError:
        return None
    exponent: int | None = currency.exponent
    return exponent


def currency_issue(code: str) -> str | None:
    """Why `code` cannot be a contract currency, or None when it can."""
    exponent = minor_unit(code)
    if exponent is None:
        return f"{code} is not an active ISO 4217 currency with a minor unit"
    if exponent > STORED_DECIMALS:
        return (
            f"{code} amounts have {exponent} decimals; the outcome service stores {STORED_DECIMALS}, "
            "so no claim under this contract could be priced"
        )
    return None


def quantum(code: str) -> Decimal:
    """One minor unit of a currency `currency_issue` accepted (Decimal("0.01") for DKK)."""
    exponent = minor_unit(code)
    assert exponent is not None
    return Decimal(1).scaleb(-exponent)


def inexact(amount: Decimal, code: str) -> str | None:
    """Why `amount` is not exact to the currency's minor unit, or None when it is."""
    exponent = minor_unit(code)
    assert exponent is not None
    if amount == round(amount, exponent):
        return None
    unit = "whole units" if exponent == 0 else f"{exponent} decimal places"
    return f"must be exact to {code}'s minor unit ({unit})"


def no_float(value: Any) -> Any:
    """JSON numbers with a fraction arrive as binary floats; money and shares must be decimal strings, of
    ASCII digits: `Decimal()` also reads "٢٥٠٠٠" and every other script's digits."""
    if isinstance(value, float):
        raise ValueError('give the amount as a decimal string, e.g. "25000.00", not a JSON number')
    if isinstance(value, str) and not value.isascii():
        raise ValueError("write the amount with ASCII digits 0-9")
    return value


# The JSON Schemas are written out: pydantic would document a Decimal as "number or string" and carry
# its constraints as keywords JSON Schema does not have (`ge`, `max_digits`), so generated clients sent
# numbers, which are refused.
Money = Annotated[
    Decimal,
    BeforeValidator(no_float),
    Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, max_digits=18),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,15}(\.[0-9]{1,3})?$",
            "description": "A decimal string in the contract currency, exact to its ISO 4217 minor unit "
            f"(0 to {STORED_DECIMALS} decimals), at most {MAX_AMOUNT}",
            "examples": ["25000.00"],
        }
    ),
]
Percent = Annotated[
    Decimal,
    BeforeValidator(no_float),
    Field(gt=0, le=100, max_digits=7, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$",
            "description": "A decimal string above 0 and at most 100, with up to four decimals",
            "examples": ["60", "33.3333"],
        }
    ),
]


def plain(number: Decimal) -> str:
    """A decimal in its shortest plain form ("60", "33.3333", "7.5"): equal numbers, equal text."""
    text = format(number.normalize(), "f")
    return text


def total_issues(most: Decimal | None) -> Iterator[Issue]:
    """The most a contract can pay in all (None: unbounded) within what the outcome service stores."""
    if most is None:
        yield Issue(
            "caps.contract_total",
            "set a contract_total cap or max_participants: an unbounded total cannot be stored by the "
            f"outcome service (at most {MAX_AMOUNT})",
        )
    elif most > MAX_AMOUNT:
        yield Issue(
            "caps.contract_total",
            f"the contract could pay {most}; the outcome service stores at most {MAX_AMOUNT}: "
            "set a contract_total cap within that",
        )
