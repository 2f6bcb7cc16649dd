"""Read shapes from rows: an extra named beside the row wins, everything else comes from the row."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from kit.reads import ReadModel, Row


@dataclass
class _Line:
    id: int
    amount: str


@dataclass
class _Statement:
    id: int
    total: str
    lines: str = "the row's own attribute"


class _LineRead(ReadModel):
    id: int
    amount: str


class _StatementRead(ReadModel):
    id: int
    total: str
    lines: list[_LineRead] | None


def test_an_extra_beside_the_row_shadows_the_rows_attribute_and_nests_rows() -> None:
    statement = _Statement(1, "10.00")
    read = _StatementRead.model_validate(Row(statement, lines=[_Line(7, "2.50")]), from_attributes=True)
    assert read == _StatementRead(id=1, total="10.00", lines=[_LineRead(id=7, amount="2.50")])


def test_an_extra_of_none_is_a_value_not_an_absence() -> None:
    read = _StatementRead.model_validate(Row(_Statement(1, "10.00"), lines=None), from_attributes=True)
    assert read.lines is None


def test_a_field_neither_the_row_nor_an_extra_holds_is_missing() -> None:
    with pytest.raises(ValidationError, match="lines"):
        _StatementRead.model_validate(Row(_Line(1, "1.00"), total="1.00"), from_attributes=True)
    with pytest.raises(AttributeError):
        _ = Row(_Line(1, "1.00")).total
