"""The small-cell rule (kit/cells.py) as the exports apply it (services/contracts/disclosure/results.py)
against a reader who combines everything published: the cells, their amounts, the totals, which cells an
export lists at all, and two exports read before and after one step (one enrolment, one verified outcome)
whose cell the reader is told.

The reader's knowledge is computed by brute force: every table of counts that would have published both
INDIGO documents exactly as they were is a candidate; a withheld count below the threshold is recovered
when every candidate agrees on it. The property: never. The aggregates given to the exports list only the
months that had a claim (as the outcome service answers an exact reader, an outcome payer who publishes),
so the property covers a cell's appearance too; a control shows it failing without the grid.
"""

from __future__ import annotations

import functools
import itertools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import get_args
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from kit import cells
from services.contracts.clients.outcomes import Aggregates, OutcomeMonth
from services.contracts.disclosure import fields, indigo, results
from services.contracts.disclosure.source import ContractFacts, Source, VersionFacts
from services.contracts.terms.disclosure import BlockCode

PRICE = Decimal("25000.00")
CONTRACT = ContractFacts(
    UUID(int=1),
    [
        VersionFacts(
            UUID(int=2),
            1,
            "active",
            {
                "title": "Job starts",
                "currency": "DKK",
                "start_date": "2027-01-01",
                "end_date": "2027-12-31",
                "outcomes": [{"code": "job_start", "name": "Job start", "tariff": str(PRICE)}],
            },
            datetime(2026, 12, 1, tzinfo=UTC),
            None,
            None,
            None,
            [],
        )
    ],
)
RESULTS = frozenset({"contract.outcome_metrics", "results.engaged", "results.outcomes", "results.payments"})


def grid(n: int) -> results.Layout:
    """The contract's grid while its term has run `n` months: one outcome in each."""
    return results.layout([CONTRACT], date(2027, n, 15))


def aggregates(counts: tuple[int, ...], enrolled: int) -> Aggregates:
    """The aggregates an exact reader gets: a month only once it had a claim (one cell per month of one
    outcome, value = count x price)."""
    return Aggregates(
        enrolled=enrolled,
        verified=tuple(
            OutcomeMonth("job_start", f"2027-{m + 1:02d}", n, PRICE * n)
            for m, n in enumerate(counts)
            if n > 0
        ),
        contracts=(),
    )


@functools.cache
def published(counts: tuple[int, ...], enrolled: int, k: int, laid_out: bool = True) -> str:
    """The INDIGO document of one export of these counts (`laid_out`: over the term's grid, as the
    exports are; otherwise over the months that had a claim only)."""
    layout = grid(len(counts)) if laid_out else results.Layout(frozenset(), {})
    view = results.publish(aggregates(counts, enrolled), k, layout)
    source = Source(UUID(int=3), [CONTRACT], {}, view, RESULTS, "ocds-test", "https://effekt.test")
    return json.dumps(indigo.render(source), sort_keys=True)


def candidates(
    first: str, second: str, cell: int, n: int, k: int, top: int, *, laid_out: bool = True
) -> list[tuple[tuple[int, ...], int]]:
    """Every (counts, enrolled) before the step that publishes `first`, and `second` after one more in
    `cell` (`cell == n`: one more enrolment)."""
    found = []
    for counts in itertools.product(range(top), repeat=n):
        for enrolled in range(top):
            if published(counts, enrolled, k, laid_out) != first:
                continue
            after = tuple(c + (i == cell) for i, c in enumerate(counts))
            if published(after, enrolled + (cell == n), k, laid_out) == second:
                found.append((counts, enrolled))
    return found


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(min_value=cells.MIN_THRESHOLD, max_value=5),
    data=st.data(),
)
def test_no_pair_of_exports_one_step_apart_recovers_a_small_count(k: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=2), label="cells")
    top = 2 * k + 3
    counts = tuple(data.draw(st.integers(0, top - 2), label=f"cell {i}") for i in range(n))
    enrolled = data.draw(st.integers(0, top - 2), label="enrolled")
    cell = data.draw(st.integers(0, n), label="the step's cell (n: an enrolment)")
    after = tuple(c + (i == cell) for i, c in enumerate(counts))
    first = published(counts, enrolled, k)
    second = published(after, enrolled + (cell == n), k)
    found = candidates(first, second, cell, n, k, top)
    assert (counts, enrolled) in found
    for index in range(n + 1):
        true = enrolled if index == n else counts[index]
        values_before = {e if index == n else c[index] for c, e in found}
        values_after = {v + (index == cell) for v in values_before}
        if true < k:
            assert len(values_before) > 1, (counts, enrolled, cell, k, index)
        if true + (index == cell) < k:
            assert len(values_after) > 1, (counts, enrolled, cell, k, index)


def test_the_rule_would_fail_at_the_threshold_itself() -> None:
    """Proof the search can fail: a rule that showed k itself lets the step from k - 1 to k recover k - 1."""
    k = 5

    def naive(counts: tuple[int, ...]) -> tuple[int | None, ...]:
        return tuple(c if c >= k else None for c in counts)

    before, after = (4,), (5,)
    consistent = [c for c in range(20) if naive((c,)) == naive(before) and naive((c + 1,)) == naive(after)]
    assert consistent == [4]  # recovered exactly
    ours = [
        c
        for c in range(20)
        if published((c,), 10, k) == published(before, 10, k)
        and published((c + 1,), 10, k) == published(after, 10, k)
    ]
    assert len(ours) > 1


def test_without_the_grid_a_cells_first_appearance_gives_its_first_claim_away() -> None:
    """Proof the property covers appearance: listed only once it had a claim, a month absent from the
    first export and withheld in the second held exactly one; laid out, it is listed withheld in both."""
    k, before, after = 5, (9, 0), (9, 1)
    first, second = published(before, 10, k, False), published(after, 10, k, False)
    assert first != second  # the second lists a month more
    found = candidates(first, second, 1, 2, k, 2 * k + 3, laid_out=False)
    assert {c[1] + 1 for c, _ in found} == {1}  # recovered exactly
    assert published(before, 10, k) == published(after, 10, k)
    found = candidates(published(before, 10, k), published(after, 10, k), 1, 2, k, 2 * k + 3)
    assert len({c[1] for c, _ in found}) > 1


def test_every_outcome_and_month_of_the_term_so_far_is_listed_whatever_the_data() -> None:
    document = json.loads(published((0, 7, 0), 10, 5))
    months = [
        r["period"]["start_date"]["value"]
        for r in document["results"]
        if r["result_level"]["value"] == "Outcome level"
    ]
    assert months == ["2027-01-01", "2027-02-01", "2027-03-01"]
    assert published((0, 0, 0), 0, 5) == published((1, 0, 2), 3, 5)


def test_an_amount_and_a_total_are_withheld_with_any_cell_they_would_betray() -> None:
    aggregates = Aggregates(
        enrolled=40,
        verified=(
            OutcomeMonth("job_start", "2027-01", 9, PRICE * 9),
            OutcomeMonth("job_start", "2027-02", 2, PRICE * 2),
        ),
        contracts=(),
    )
    view = results.publish(aggregates, 5, grid(3))
    assert view["outcomes"] == [
        {"outcome_code": "job_start", "month": "2027-01", "verified": 9, "value": "225000.00"},
        {"outcome_code": "job_start", "month": "2027-02", "verified": None, "value": None},
        {"outcome_code": "job_start", "month": "2027-03", "verified": None, "value": None},
    ]
    assert view["total_verified"] is None
    assert view["total_value"] is None
    assert view["engaged"] == 40


def test_the_terms_vocabulary_names_exactly_the_catalogued_blocks() -> None:
    assert set(get_args(BlockCode)) == fields.CODES


def test_the_strictest_status_wins_and_the_payers_choice_beats_the_terms() -> None:
    s = fields.Status
    assert fields.strictest([s.PUBLIC, s.PRIVATE, s.DISPUTED]) == s.PRIVATE
    assert fields.strictest([s.PUBLIC, s.DISPUTED]) == s.DISPUTED
    assert fields.strictest([s.DISPUTED, s.PARTNERSHIP]) == s.PARTNERSHIP
    statuses = fields.effective(
        {"contract.title": s.PRIVATE},
        [{"contract.title": s.PUBLIC, "contract.caps": s.PUBLIC}, {"contract.caps": s.PRIVATE}],
    )
    assert statuses["contract.title"] == (s.PRIVATE, "set")
    assert statuses["contract.caps"] == (s.PRIVATE, "terms")
    assert statuses["results.outcomes"] == (s.PARTNERSHIP, "default")


def test_a_publication_stored_before_the_grid_is_laid_out_when_read() -> None:
    """A month an earlier publication lacks had nothing: it is read withheld, and the totals with it."""
    stored = results.publish(aggregates((9,), 10), 5, results.Layout(frozenset(), {}))
    del stored["laid_out"]
    assert stored["total_verified"] == 9
    read = results.lay_out(stored, grid(2))
    assert read == results.publish(aggregates((9, 0), 10), 5, grid(2))
    assert [r["verified"] for r in read["outcomes"]] == [9, None]
    assert read["total_verified"] is None
    assert read["contracts"] == [
        {
            "contract_id": str(CONTRACT.id),
            "currency": "DKK",
            "earned": None,
            "pending_claims": None,
            "pending_value": None,
        }
    ]
