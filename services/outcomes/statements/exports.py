"""Tables a controller opens in Excel: payment statements and partnership aggregates as CSV or XLSX.

Pure: a `Table` (named, typed columns and rows) becomes bytes. Invariants: money stays exact — a CSV cell
is the amount as the API writes it (`12345.67`; RFC 4180, UTF-8 with a byte order mark so Excel reads
`æøå`), an XLSX cell is a number of those same digits formatted `#,##0.00`, never a float's approximation
turned to text; dates are date cells, counts integers, identifiers text. One sheet per table, in order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import UUID

from openpyxl import Workbook
from openpyxl.styles import Font

from services.outcomes.schemas import money_text

Cell = str | int | Decimal | date | UUID | None
Kind = Literal["text", "money", "date", "count"]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMATS: dict[Kind, str] = {"text": "@", "money": "#,##0.00", "date": "yyyy-mm-dd", "count": "0"}


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[tuple[str, Kind], ...]
    rows: Sequence[Sequence[Cell]]


def _text(value: Cell, kind: Kind) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if kind == "money":
        return money_text(Decimal(value) if not isinstance(value, Decimal) else value)  # type: ignore[arg-type]
    return str(value)


def to_csv(table: Table) -> bytes:
    """RFC 4180 with a header row; a spreadsheet that wants typed cells should ask for XLSX."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in table.columns])
    writer.writerows(
        [_text(v, kind) for v, (_, kind) in zip(row, table.columns, strict=True)] for row in table.rows
    )
    return ("\ufeff" + out.getvalue()).encode()


def _typed(value: Cell, kind: Kind) -> str | int | Decimal | date | None:
    if value is None:
        return None
    if kind == "money":
        return Decimal(value) if not isinstance(value, Decimal) else value  # type: ignore[arg-type]
    if kind == "count":
        return int(value)  # type: ignore[arg-type]
    if kind == "date":
        if not isinstance(value, date):
            raise TypeError(f"a date column holds {value!r}")
        return value
    if kind == "text":
        return str(value)
    raise ValueError(f"unknown column kind {kind!r}")


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """A workbook with one sheet per table: bold header, frozen below it, typed and formatted cells."""
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for table in tables:
        sheet = workbook.create_sheet(table.name[:31])  # Excel's limit on a sheet name
        sheet.append([name for name, _ in table.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_typed(v, kind) for v, (_, kind) in zip(row, table.columns, strict=True)])
        for column, (name, kind) in enumerate(table.columns, start=1):
            letter = sheet.cell(row=1, column=column).column_letter
            sheet.column_dimensions[letter].width = max(12, len(name) + 2)
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = _FORMATS[kind]
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
