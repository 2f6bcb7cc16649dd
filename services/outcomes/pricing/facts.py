"""The facts a claim reports (hours per week, weeks in work, off benefit, …), typed as the terms declare.

A claim's facts are normalised here before any criterion or band reads them: decimals become exact
`Decimal`s (a float is read through its shortest repr, so `37.5` is `Decimal("37.5")`), integers stay
integers, booleans are only `true`/`false`, choices must be one of the declared values. A fact the terms do
not declare is refused, so a misspelt name never silently misses a criterion.

Facts from a CSV file arrive as text, which only the declared type can read (`"2"` is a whole number for
one fact and a choice for another): `read_text_facts` types each cell by its declaration first. A cell of
a `;`-separated file (Excel on a Danish machine) writes a decimal with a decimal comma (`7,5`); there a
`.` is refused, since Danish Excel writes it as a thousands separator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, assert_never

from services.outcomes.pricing.refusals import Refused

FactType = Literal["decimal", "integer", "boolean", "choice"]
FactValue = Decimal | int | bool | str
DecimalMark = Literal["point", "comma"]  # how a text cell writes a decimal


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    type: FactType
    choices: tuple[str, ...] = ()
    unit: str = ""
    measure: Literal["continuous", "cumulative"] | None = None


def _decimal(raw: object) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal | int | str):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None
    if isinstance(raw, float):
        return Decimal(repr(raw))
    return None


def normalise(spec: FactSpec, raw: object) -> FactValue:
    """One reported value as its declared type, or `Refused` naming the fact."""
    path, kind = f"facts.{spec.name}", spec.type
    if kind == "decimal":
        value = _decimal(raw)
        if value is None:
            raise Refused(f"`{spec.name}` must be a decimal number", path=path)
        return value
    if kind == "integer":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise Refused(f"`{spec.name}` must be a whole number", path=path)
        return raw
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise Refused(f"`{spec.name}` must be true or false", path=path)
        return raw
    if kind == "choice":
        if not isinstance(raw, str) or raw not in spec.choices:
            raise Refused(f"`{spec.name}` must be one of: {', '.join(spec.choices)}", path=path)
        return raw
    assert_never(kind)


def read_facts(specs: tuple[FactSpec, ...], reported: Mapping[str, object]) -> dict[str, FactValue]:
    """Every reported fact normalised; an undeclared one refused."""
    declared = {spec.name: spec for spec in specs}
    facts: dict[str, FactValue] = {}
    for name, raw in reported.items():
        spec = declared.get(name)
        if spec is None:
            known = ", ".join(sorted(declared)) or "none"
            raise Refused(f"the terms declare no fact `{name}` (declared: {known})", path=f"facts.{name}")
        facts[name] = normalise(spec, raw)
    return facts


_WHOLE = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
# Excel writes a boolean cell as TRUE/FALSE, or on a Danish machine SAND/FALSK.
_BOOLEANS = {"true": True, "false": False, "sand": True, "falsk": False}


def from_text(spec: FactSpec, text: str, *, mark: DecimalMark) -> FactValue:
    """One text cell as its declared type, or `Refused` naming the fact."""
    path, kind, cell = f"facts.{spec.name}", spec.type, text.strip()
    if kind == "decimal":
        if mark == "comma":
            if "." in cell:
                reason = f"`{spec.name}` must be a decimal number with a decimal comma (7,5)"
                raise Refused(f"{reason} in a `;`-separated file", path=path)
            cell = cell.replace(",", ".", 1)
        if not _NUMBER.fullmatch(cell):
            raise Refused(f"`{spec.name}` must be a decimal number", path=path)
        return Decimal(cell)
    if kind == "integer":
        if not _WHOLE.fullmatch(cell):
            raise Refused(f"`{spec.name}` must be a whole number", path=path)
        return int(cell)
    if kind == "boolean":
        value = _BOOLEANS.get(cell.lower())
        if value is None:
            raise Refused(f"`{spec.name}` must be true or false", path=path)
        return value
    if kind == "choice":
        return cell
    assert_never(kind)


def read_text_facts(
    specs: tuple[FactSpec, ...], cells: Mapping[str, object], *, mark: DecimalMark
) -> dict[str, object]:
    """Text cells typed by their declarations (an undeclared name is left for `read_facts` to refuse)."""
    declared = {spec.name: spec for spec in specs}
    return {
        name: from_text(declared[name], cell, mark=mark)
        if name in declared and isinstance(cell, str)
        else cell
        for name, cell in cells.items()
    }
