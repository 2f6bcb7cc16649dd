"""The aggregates response under the small-cell rule (services/outcomes/statements/small_cells.py) against
a reader who combines everything in two responses read one step apart (one enrolment, exit, verified
claim or new claim, in a contract the reader is told): every count a reader might want — per contract
and for the partnership, enrolled, exited, still active, verified, pending — is never pinned to a single
value below the threshold by the candidates (every state that gives both responses exactly).

Brute force over small partnerships: one contract with everything, or two contracts with only
participants, or two contracts whose claims fall in one outcome and month (so the cell merges them)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from kit import cells
from services.outcomes.clients.contracts import CellLayout, ContractCells
from services.outcomes.statements import small_cells
from services.outcomes.statements.tallies import PartnershipTotals

PRICE = Decimal("25000.00")
CAP = Decimal("1000000.00")
CONTRACTS = (UUID(int=1), UUID(int=2))
MONTH = "2027-03"
TODAY = date(2027, 4, 2)
# Every contract runs one month with one outcome: the grid is that one cell, whatever the data.
TERMS = ContractCells(frozenset({"job_start"}), date(2027, 3, 1), date(2027, 3, 31), "DKK", CAP)

# A contract's state: (enrolled, exited, verified, pending).
State = tuple[tuple[int, int, int, int], ...]


def response(state: State, k: int) -> str:
    """What an investor reads for `state`, built as `partnership_aggregates` builds the exact answer."""
    totals = PartnershipTotals(
        enrolled=sum(e for e, _, _, _ in state),
        exited=sum(x for _, x, _, _ in state),
        contract_ids=set(CONTRACTS[: len(state)]),
        verified={},
        earned={},
        pending={},
        participants={CONTRACTS[i]: (e, x) for i, (e, x, _, _) in enumerate(state) if e},
        verified_claims={(CONTRACTS[i], "job_start", MONTH): v for i, (_, _, v, _) in enumerate(state) if v},
    )
    verified = sum(v for _, _, v, _ in state)
    exact: dict[str, Any] = {
        "partnership_id": UUID(int=9),
        "enrolled": totals.enrolled,
        "exited": totals.exited,
        "verified_outcomes": (
            [{"outcome_code": "job_start", "month": MONTH, "verified": verified, "value": PRICE * verified}]
            if verified
            else []
        ),
        "contracts": [
            {
                "contract_id": CONTRACTS[i],
                "currency": "DKK",
                "earned": PRICE * v,
                "pending_claims": p,
                "pending_value": PRICE * p,
                "contract_cap": CAP,
                "remaining_cap": CAP - PRICE * v,
            }
            for i, (_, _, v, p) in enumerate(state)
        ],
    }
    layout = CellLayout(k, {c: TERMS for c in CONTRACTS[: len(state)]})
    return repr(small_cells.aggregates(exact, totals, layout, TODAY))


def facts(state: State) -> tuple[int, ...]:
    """Every count a reader might be after, per contract and summed over the partnership."""
    per = [(e, x, e - x, v, p) for e, x, v, p in state]
    return (*itertools.chain.from_iterable(per), *(sum(column) for column in zip(*per, strict=True)))


def states(shape: str, top: int) -> Iterator[State]:
    r = range(top)
    if shape == "one contract":
        for e, v, p in itertools.product(r, r, r):
            for x in range(e + 1):
                yield ((e, x, v, p),)
    elif shape == "two contracts, participants":
        pairs = [(e, x) for e in r for x in range(e + 1)]
        for (e1, x1), (e2, x2) in itertools.product(pairs, pairs):
            yield ((e1, x1, 0, 0), (e2, x2, 0, 0))
    else:
        for v1, p1, v2, p2 in itertools.product(r, r, r, r):
            yield ((0, 0, v1, p1), (0, 0, v2, p2))


def step(state: State, contract: int, kind: int) -> State | None:
    """One more enrolment (0), exit (1), verified claim (2) or pending claim (3) in `contract`."""
    e, x, v, p = state[contract]
    after = [e + (kind == 0), x + (kind == 1), v + (kind == 2), p + (kind == 3)]
    if after[1] > after[0]:
        return None
    return tuple(tuple(after) if i == contract else s for i, s in enumerate(state))  # type: ignore[misc]


# Each shape: contracts, the steps it takes, and the columns of `facts` it varies (enrolled, exited, still
# active, verified, pending); a column the shape holds at zero is known to the reader by construction.
SHAPES = {
    "one contract": (1, (0, 1, 2, 3), (0, 1, 2, 3, 4)),
    "two contracts, participants": (2, (0, 1), (0, 1, 2)),
    "two contracts, claims": (2, (2, 3), (3, 4)),
}


@cache
def published(shape: str, k: int) -> dict[State, str]:
    """Every state of the shape (and one step past its edge) with its response, computed once."""
    top = 2 * k + 3
    return {s: response(s, k) for s in states(shape, top + 1)}


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(min_value=cells.MIN_THRESHOLD, max_value=4),
    shape=st.sampled_from(sorted(SHAPES)),
    data=st.data(),
)
def test_no_two_responses_one_step_apart_recover_a_small_count(
    k: int, shape: str, data: st.DataObject
) -> None:
    top = 2 * k + 3
    n, kinds, columns = SHAPES[shape]
    answers = published(shape, k)
    everything = list(states(shape, top))
    state = data.draw(st.sampled_from([s for s in everything if all(c < top - 1 for c in facts(s))]))
    contract = data.draw(st.integers(0, n - 1), label="the step's contract")
    kind = data.draw(st.sampled_from(kinds), label="the step")
    after = step(state, contract, kind)
    if after is None:
        return
    first, second = answers[state], answers[after]
    found = [
        s
        for s in everything
        if answers[s] == first and (moved := step(s, contract, kind)) is not None and answers[moved] == second
    ]
    assert state in found
    for index, true in enumerate(facts(state)):
        if index % 5 in columns and true < k:
            assert len({facts(s)[index] for s in found}) > 1, (state, contract, kind, k, index)


def test_a_cell_is_listed_before_its_first_claim() -> None:
    """Control: listed only with data, a cell's absence would show a zero and its first appearance one.
    The grid lists it, withheld, from the start of the term."""
    assert "'verified': None" in response(((0, 0, 0, 0),), 3)
    assert response(((0, 0, 0, 0),), 3) == response(((0, 0, 1, 0),), 3)  # zero and one read alike


def test_the_search_would_catch_exited_shown_beside_enrolled() -> None:
    """Control: the part-beside-whole rule is what hides the few still active. Enrolled 9 beside exited
    7 would leave 2 active; the response withholds exited."""
    published = response(((9, 7, 0, 0),), 5)
    assert "'enrolled': 9" in published
    assert "'exited': None" in published
