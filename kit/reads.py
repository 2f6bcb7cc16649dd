"""Read shapes validated from ORM rows, so a new column reaches the API through the model and the schema.

`ReadModel.model_validate(row, from_attributes=True)` takes each field from the row's attribute of the
same name. A read computes what follows from the row's own columns in `derive` (a claim's `final`); what
it shows that the row does not hold (rows of another table, a fact only this caller may see) is named
beside the row with `Row(row, lines=...)`. Nothing copies a read field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_ABSENT = object()


class Row:
    """A row and the values a read shows beside it; a value beside the row wins over its attribute."""

    __slots__ = ("beside", "row")

    def __init__(self, row: object, /, **beside: object) -> None:
        self.row = row
        self.beside = beside


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def derive(cls, row: Any) -> Mapping[str, object]:
        """Fields this read computes from its row's own attributes; none unless a read says so."""
        return {}

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return data
        row, beside = (data.row, data.beside) if isinstance(data, Row) else (data, {})
        given = {**cls.derive(row), **beside}
        if not given:
            return row  # pydantic reads the attributes itself
        # One dict, not an attribute-forwarding proxy: pydantic validates a dict several times faster.
        values = {
            name: given[name] if name in given else getattr(row, name, _ABSENT) for name in cls.model_fields
        }
        return {name: value for name, value in values.items() if value is not _ABSENT}
