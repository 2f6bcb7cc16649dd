"""The small-cell rule for every count that readers without person-level rights see: the open-data
exports and public read (contracts), and the outcome service's aggregates, statement totals and
`statement.summarised` for investors, advisers and observers. Pure; the caller chooses the threshold.

With threshold k (default 5, per partnership, at least 3): a count is shown only when it is **above k**;
a count of k or less is withheld (`None`), zero included (a shown zero would betray the next one). Why
above k and not "k or more": the attack the rule must withstand is two exports read before and after one
enrolment (or one verified outcome). A cell that appears on the second export was one less on the first;
were it shown from k, the first would have held k - 1, a small count, recovered. Shown from k + 1, the
step back reveals at most k, which the threshold allows.

Secondary suppression, so no difference of published figures leaves a withheld cell behind:

- An amount built from a count (the value of the outcomes in a cell, a payment) is withheld with it: the
  price is public, so amount / price would give the count back.
- A total is shown only when every part it sums is shown (`table`), and never for an empty table (its
  zero is a count like any other), so no total minus the shown parts leaves a withheld cell (or the sum
  of several) behind.
- A count published beside a part of it (enrolled beside exited) implies the remainder (still active):
  the part is shown only when the remainder is above k too (`part_of`).

`tests/kit/test_cells.py` checks by brute force that no pair of tables one step apart pins a withheld
count below k to a single value; `tests/contracts/test_small_cells.py` does the same for the exports.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Generic, TypeVar

DEFAULT_THRESHOLD = 5
MIN_THRESHOLD = 3
MAX_THRESHOLD = 1000

K = TypeVar("K", bound=Hashable)


def shown(count: int, threshold: int) -> int | None:
    """The count as published: itself when above the threshold, else withheld."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(f"a small-cell threshold is at least {MIN_THRESHOLD}")
    if count < 0:
        raise ValueError("a count is never negative")
    return count if count > threshold else None


def part_of(whole: int, part: int, threshold: int) -> tuple[int | None, int | None]:
    """A count and a part of it, as published: the part is withheld also when the remainder
    (`whole - part`, which a reader gets by subtraction) is small; the whole then still shows."""
    if not 0 <= part <= whole:
        raise ValueError("a part is between zero and its whole")
    published = shown(whole, threshold)
    if published is None or shown(whole - part, threshold) is None:
        return published, None
    return published, shown(part, threshold)


def months(start: date, end: date) -> list[str]:
    """Every month from `start`'s to `end`'s, as YYYY-MM: the periods a table of counts by month is laid
    out over whatever the data, since a month listed only once it has a count gives its first one away
    (absent is zero; withheld on the next read is one)."""
    found, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def complete(values: Iterable[object | None]) -> bool:
    """Whether none of `values` is withheld: a total of them may be shown."""
    return all(v is not None for v in values)


@dataclass(frozen=True, slots=True)
class Cell:
    """One published cell: its count and amount, both `None` when withheld."""

    count: int | None
    amount: Decimal | None

    @property
    def suppressed(self) -> bool:
        return self.count is None


@dataclass(frozen=True, slots=True)
class Table(Generic[K]):
    """A published table: its cells by key, and totals shown only when no cell is withheld."""

    cells: dict[K, Cell]
    total_count: int | None
    total_amount: Decimal | None

    @property
    def complete(self) -> bool:
        return self.total_count is not None


def table(raw: Mapping[K, tuple[int | None, Decimal | None]], threshold: int) -> Table[K]:
    """The cells of `raw` (key -> count, amount) under the rule, with their totals when all are shown. A
    count already withheld upstream (`None`, from a service that applied the rule) stays withheld."""
    cells: dict[K, Cell] = {}
    for key, (count, amount) in raw.items():
        published = None if count is None else shown(count, threshold)
        cells[key] = Cell(published, amount if published is not None else None)
    if cells and all(not c.suppressed for c in cells.values()):
        total = sum((c.count or 0 for c in cells.values()), 0)
        amounts = [c.amount for c in cells.values()]
        money = (
            sum((a for a in amounts if a is not None), Decimal(0))
            if all(a is not None for a in amounts)
            else None
        )
        return Table(cells, total, money)
    return Table(cells, None, None)
