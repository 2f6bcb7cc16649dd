"""CPR numbers (the Danish personal identity number): format and birth-date validation only.

A CPR number is accepted only to derive a pseudonym and is never stored or logged. Modulus 11 is
deliberately not checked: numbers issued since 2007 may fail it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_CPR = re.compile(r"^(\d{6})-?(\d{4})$")


class InvalidCpr(ValueError):
    """The value is not a CPR number; the message says why without echoing the number."""


@dataclass(frozen=True, slots=True)
class Cpr:
    digits: str  # exactly 10 digits, no separator
    birth_date: date

    def __repr__(self) -> str:  # never let the number reach a log or a traceback
        return "Cpr(<redacted>)"

    __str__ = __repr__


def birth_century(year_two_digits: int, seventh_digit: int) -> int:
    """The century of the birth year, from the 7th digit (the first of the serial number), per CPR rules."""
    if seventh_digit <= 3:
        return 1900
    if seventh_digit in (4, 9):
        return 2000 if year_two_digits <= 36 else 1900
    return 2000 if year_two_digits <= 57 else 1800  # 5-8


def parse_cpr(value: str, *, today: date | None = None) -> Cpr:
    """A valid CPR number: 10 digits (an optional hyphen after the 6th) encoding a real birth date."""
    match = _CPR.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidCpr("must be 10 digits (DDMMYYSSSS, optionally DDMMYY-SSSS)")
    digits = match.group(1) + match.group(2)
    day, month, yy, seventh = int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6])
    try:
        born = date(birth_century(yy, seventh) + yy, month, day)
    except ValueError as exc:
        raise InvalidCpr("the first six digits are not a real birth date") from exc
    if today is not None and born > today:
        raise InvalidCpr("the birth date lies in the future")
    return Cpr(digits=digits, birth_date=born)
