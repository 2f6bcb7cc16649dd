"""Criteria over a claim's facts: an outcome is achieved only when every criterion holds.

A missing fact fails its criterion (the claim must carry what the outcome asks for); the reason names the
fact, the comparison and the reported value, so the provider can see what to correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, assert_never

from services.outcomes.pricing.facts import FactValue
from services.outcomes.pricing.refusals import Refused

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
_SYMBOL: dict[Op, str] = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in"}


@dataclass(frozen=True, slots=True)
class Criterion:
    fact: str
    op: Op
    value: FactValue | tuple[FactValue, ...]


def holds(criterion: Criterion, value: FactValue) -> bool:
    op, want = criterion.op, criterion.value
    if op == "in":
        return value in (want if isinstance(want, tuple) else (want,))
    if isinstance(want, tuple):
        return False
    if op == "eq":
        return value == want
    if op == "ne":
        return value != want
    if isinstance(value, bool | str) or isinstance(want, bool | str):
        return False  # order comparisons are for numbers only
    if op == "gt":
        return value > want
    if op == "gte":
        return value >= want
    if op == "lt":
        return value < want
    if op == "lte":
        return value <= want
    assert_never(op)


def _show(value: FactValue | tuple[FactValue, ...]) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(criteria: tuple[Criterion, ...], facts: Mapping[str, FactValue]) -> None:
    """`Refused` with the first criterion the facts miss."""
    for criterion in criteria:
        path = f"facts.{criterion.fact}"
        if criterion.fact not in facts:
            raise Refused(f"the outcome needs the fact `{criterion.fact}`", path=path)
        value = facts[criterion.fact]
        if not holds(criterion, value):
            raise Refused(
                f"`{criterion.fact}` is {_show(value)}; the outcome needs "
                f"{criterion.fact} {_SYMBOL[criterion.op]} {_show(criterion.value)}",
                path=path,
            )
