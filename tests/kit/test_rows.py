"""The row-security context one transaction names for several callers (`kit.rows.spanning`): the union of
their partnerships, their organisation only when shared, and `*` never merged with anyone's."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from kit.rows import EVERY, NOBODY, RowContext, bind_context, bind_partnerships, row_context, spanning

A, B, C = sorted(str(uuid4()) for _ in range(3))
ORG, OTHER = str(uuid4()), str(uuid4())


def test_a_spanning_context_names_every_callers_partnerships_once_in_order() -> None:
    made = spanning([RowContext(f"{B},{C}", ORG), RowContext(A, ORG), RowContext(B, ORG)])
    assert made == RowContext(f"{A},{B},{C}", ORG)


def test_a_spanning_context_keeps_the_organisation_only_when_every_caller_acts_for_it() -> None:
    assert spanning([RowContext(A, ORG), RowContext(B, OTHER)]) == RowContext(f"{A},{B}", "")
    assert spanning([RowContext(A, ORG), RowContext(B, "")]) == RowContext(f"{A},{B}", "")
    assert spanning([RowContext(A), NOBODY]) == RowContext(A, "")


def test_one_callers_context_spans_itself_even_every_partnership() -> None:
    assert spanning([RowContext(A, ORG)] * 3) == RowContext(A, ORG)
    assert spanning([EVERY, EVERY]) == EVERY


@pytest.mark.parametrize("contexts", [[], [EVERY, RowContext(A)], [RowContext(A), RowContext("*", ORG)]])
def test_every_partnership_is_never_merged_with_another_context(contexts: list[RowContext]) -> None:
    with pytest.raises(ValueError, match="spanning"):
        spanning(contexts)


async def test_a_bound_context_lasts_for_its_task_only() -> None:
    bind_partnerships([uuid4()])
    mine = row_context()

    async def worker() -> RowContext:
        bind_context(RowContext(A, ORG))
        return row_context()

    assert await asyncio.create_task(worker()) == RowContext(A, ORG)
    assert row_context() == mine
