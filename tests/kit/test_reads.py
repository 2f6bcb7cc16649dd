"""Read shapes from rows: a value beside the row wins, a derived field comes from the row's own
attributes, everything else is the row's attribute of the same name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from kit.reads import ReadModel, Row


@dataclass
class _Line:
    id: int
    tariff: int
    amount: int


@dataclass
class _Statement:
    id: int
    total: int
    lines: str = "the row's own attribute"


class _LineRead(ReadModel):
    id: int
    cut: int
    amount: int

    @classmethod
    def derive(cls, line: Any) -> Mapping[str, object]:
        return {"cut": line.tariff - line.amount}


class _StatementRead(ReadModel):
    id: int
    total: int
    lines: list[_LineRead] | None
    note: str | None = None


def test_a_value_beside_the_row_wins_and_nested_rows_derive_their_fields() -> None:
    statement = _Statement(1, 10)
    read = _StatementRead.model_validate(Row(statement, lines=[_Line(7, 5, 2)]), from_attributes=True)
    assert read == _StatementRead(id=1, total=10, lines=[_LineRead(id=7, cut=3, amount=2)])


def test_none_beside_the_row_is_a_value_and_an_absent_attribute_takes_the_default() -> None:
    read = _StatementRead.model_validate(Row(_Statement(1, 10), lines=None), from_attributes=True)
    assert (read.lines, read.note) == (None, None)


def test_a_field_neither_the_row_nor_the_values_beside_it_hold_is_missing() -> None:
    with pytest.raises(ValidationError, match="lines"):
        _StatementRead.model_validate(Row(_Line(1, 1, 1), total=1), from_attributes=True)


def test_a_plain_dict_is_validated_as_given() -> None:
    assert _LineRead.model_validate({"id": 1, "cut": 9, "amount": 1}).cut == 9
