"""Read shapes validated from ORM rows, so a new column reaches the API through the model and the schema.

`ReadModel.model_validate(row, from_attributes=True)` takes each field from the row's attribute of the
same name. What a read shows that its row does not hold (rows of another table, a fact only the caller
may see) is named beside the row with `Row(row, lines=...)`, never copied field by field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Row:
    """A row with extra attributes beside its own, for `ReadModel.model_validate`: an extra shadows the
    row's attribute of the same name; everything else is read from the row."""

    __slots__ = ("_extra", "_row")

    def __init__(self, row: object, /, **extra: object) -> None:
        self._row = row
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        extra = self._extra
        if name in extra:
            return extra[name]
        return getattr(self._row, name)
