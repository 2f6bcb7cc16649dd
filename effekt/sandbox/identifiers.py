"""Synthetic Danish identifiers that pass the platform's checks: ASCII digits only, always.

* A CVR number (a company's) carries identity's modulus-11 check: weights 2,7,6,5,4,3,2,1, no leading zero.
* A CPR number (a person's) is DDMMYY and a 4-digit serial whose first digit (the number's 7th) names the
  birth century by the CPR rules, so the six digits are a real birth date. Modulus 11 is not applied: the
  outcome service does not check it (numbers issued since 2007 may fail it).
* Municipality codes: the two paying municipalities of the standard partnership.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

HERNING = "657"
VIBORG = "791"

_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2)  # the check digit's weight is 1


def cvr() -> str:
    """A fresh random CVR number that passes the modulus-11 check."""
    while True:
        digits = [secrets.randbelow(9) + 1] + [secrets.randbelow(10) for _ in range(6)]
        check = (-sum(d * w for d, w in zip(digits, _CVR_WEIGHTS, strict=True))) % 11
        if check < 10:  # a remainder that needs "10" has no CVR number: draw again
            return "".join(map(str, digits)) + str(check)


def century_digits(year: int) -> tuple[int, ...]:
    """The 7th digits a CPR number may have for someone born in `year` (none outside 1858-2057)."""
    yy = year % 100
    allowed = []
    for seventh in range(10):
        if seventh <= 3:
            century = 1900
        elif seventh in (4, 9):
            century = 2000 if yy <= 36 else 1900
        else:
            century = 2000 if yy <= 57 else 1800
        if century + yy == year:
            allowed.append(seventh)
    return tuple(allowed)


def cpr(born: date, serial: int) -> str:
    """The CPR number of someone born on `born` with the `serial`-th serial their century allows (0-3999
    always exist; for 1900-1999 serial n is simply the digits of n)."""
    digits = century_digits(born.year)
    if not digits:
        raise ValueError(f"no CPR number encodes a birth in {born.year}")
    if not 0 <= serial < 1000 * len(digits):
        raise ValueError(f"a birth in {born.year} has serials 0-{1000 * len(digits) - 1}")
    return f"{born:%d%m%y}{digits[serial // 1000]}{serial % 1000:03d}"


def synthetic_cpr(index: int, *, born: date | None = None) -> str:
    """The `index`-th person of a test: a birth date of its own per index (37 days apart from 1 January
    1990, folded into the 1900s) and a random serial, so one partnership's people stay distinct and a
    rerun's, or a neighbouring test's, rarely meet them."""
    if born is None:
        day = date(1990, 1, 1) + timedelta(days=37 * index)
        if (day.month, day.day, day.year % 100) == (2, 29, 0):
            day -= timedelta(days=1)  # 1900 had no 29 February
        born = day.replace(year=1900 + day.year % 100)
    return cpr(born, secrets.randbelow(4000))


def sequential_cpr(index: int) -> str:
    """Distinct for every index below 60 million, and the same on every run (the bench enrols many)."""
    return cpr(date(1940, 1, 1) + timedelta(days=index % 15_000), (index // 15_000) % 4000)
