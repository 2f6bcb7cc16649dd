"""CPR numbers (the Danish personal identity number): format and birth-date validation only.

A CPR number is accepted only to derive a pseudonym and is never stored or logged. Modulus 11 is
deliberately not checked: numbers issued since 2007 may fail it.

Only the ASCII digits 0-9 are digits here (`[0-9]`, never `\\d`): `\\d` and `int()` also take fullwidth,
Arabic-Indic, Devanagari and every other Unicode decimal digit, so one person's number written in another
script would pass and hash to a second pseudonym: a second participant, paid for again. Such a number is
refused, not normalised (we never guess what was meant); the pseudonym is derived from `Cpr.digits`, the
one canonical form (10 ASCII digits, no separator) of whichever accepted spelling came in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_CPR = re.compile(r"([0-9]{6})-?([0-9]{4})")  # fullmatch: `$` would also take a trailing newline


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
    match = _CPR.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidCpr("must be 10 ASCII digits 0-9 (DDMMYYSSSS, optionally DDMMYY-SSSS)")
    digits = match.group(1) + match.group(2)
    day, month, yy, seventh = int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6])
    try:
        born = date(birth_century(yy, seventh) + yy, month, day)
    except ValueError as exc:
        raise InvalidCpr("the first six digits are not a real birth date") from exc
    if today is not None and born > today:
        raise InvalidCpr("the birth date lies in the future")
    return Cpr(digits=digits, birth_date=born)
