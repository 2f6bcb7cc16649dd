"""The pure small-cell rule (kit/cells.py) against a reader who combines everything one publication
shows (cells, amounts, totals, a count beside a part of it) and two publications one step apart (one
more in a cell the reader is told). The reader's knowledge is computed by brute force over every table
of counts that publishes both exactly as they were; a withheld count below the threshold is recovered
when every candidate agrees on it. The property: never."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit import cells

PRICE = Decimal("25000.00")


def published(counts: tuple[int, ...], exited: int, k: int) -> tuple[object, ...]:
    """A table of `counts` (one cell each, valued at a public price) with its totals, and the first
    cell published as a whole beside `exited`, a part of it (enrolled beside exited)."""
    view = cells.table({i: (n, PRICE * n) for i, n in enumerate(counts)}, k)
    return (view, cells.part_of(counts[0], min(exited, counts[0]), k))


Candidate = tuple[tuple[int, ...], int]  # counts, exited


def candidates(first: object, second: object, cell: int, n: int, k: int, top: int) -> list[Candidate]:
    found: list[Candidate] = []
    for counts in itertools.product(range(top), repeat=n):
        for exited in range(counts[0] + 1):
            if published(counts, exited, k) != first:
                continue
            after = tuple(c + (i == cell) for i, c in enumerate(counts))
            if published(after, exited, k) == second:
                found.append((counts, exited))
    return found


@settings(max_examples=60, deadline=None)
@given(k=st.integers(min_value=cells.MIN_THRESHOLD, max_value=5), data=st.data())
def test_no_pair_of_tables_one_step_apart_recovers_a_small_count(k: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=3), label="cells")
    top = 2 * k + 3
    counts = tuple(data.draw(st.integers(0, top - 2), label=f"cell {i}") for i in range(n))
    exited = data.draw(st.integers(0, counts[0]), label="exited of the first cell")
    cell = data.draw(st.integers(0, n - 1), label="the step's cell")
    after = tuple(c + (i == cell) for i, c in enumerate(counts))
    found = candidates(published(counts, exited, k), published(after, exited, k), cell, n, k, top)
    assert (counts, exited) in found

    # Every count the reader might want: each cell, the part and the remainder, before and after.
    def facts(c: tuple[int, ...], e: int) -> tuple[int, ...]:
        return (*c, e, c[0] - e)

    truth = facts(counts, exited)
    for index, true in enumerate(truth):
        values = {facts(c, e)[index] for c, e in found}
        if true < k:
            assert len(values) > 1, (counts, exited, cell, k, index)


def test_the_search_finds_what_a_weaker_rule_leaks() -> None:
    """Control: were the part shown without looking at the remainder, enrolled 8 beside exited 7 would
    tell one person still active."""
    k = 5
    assert cells.part_of(8, 7, k) == (8, None)
    naive = (cells.shown(8, k), cells.shown(7, k))
    assert naive == (8, 7)  # 8 - 7 = 1: recovered


@pytest.mark.parametrize(("count", "shown"), [(0, None), (4, None), (5, None), (6, 6), (100, 100)])
def test_a_count_is_shown_only_above_the_threshold(count: int, shown: int | None) -> None:
    assert cells.shown(count, 5) == shown


def test_a_threshold_below_three_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        cells.shown(10, 2)


def test_a_total_needs_every_part_and_an_empty_table_shows_none() -> None:
    both = cells.table({"a": (9, PRICE * 9), "b": (7, PRICE * 7)}, 5)
    assert (both.total_count, both.total_amount) == (16, PRICE * 16)
    one_small = cells.table({"a": (9, PRICE * 9), "b": (2, PRICE * 2)}, 5)
    assert one_small.cells["b"] == cells.Cell(None, None)
    assert (one_small.total_count, one_small.total_amount) == (None, None)
    assert cells.table({}, 5).total_count is None  # a zero total is a count like any other
    upstream = cells.table({"a": (None, None), "b": (9, PRICE * 9)}, 5)
    assert upstream.cells["a"].suppressed
    assert upstream.total_count is None
