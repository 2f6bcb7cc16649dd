"""The lines of a bulk import: what each kind holds, and reading them from a body as it arrives.

Reading is incremental: the body is decoded chunk by chunk and a line (or CSV record) is handed on as soon
as it is complete, so a 50 000-line file is never held in memory as a whole. A CSV record may span
physical lines inside quotes (RFC 4180); it is complete once its quotes balance.

CSV comes as RFC 4180 writes it (`,`) or as Excel saves it on a Danish machine ("CSV UTF-8": `;`
between cells, a byte order mark, CRLF): the separator is taken from the header row, whichever of `,`,
`;` or a tab it holds most of outside quotes. A claim's facts are columns named `facts.<name>`; their
cells are text (`TextFacts`) until the claim's terms type them (`pricing.read_text_facts`), with the
decimal comma of a `;`-separated file, the decimal point otherwise. Facts are person-level data: they
go where the claim goes, never into a result line.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import AsyncIterable, AsyncIterator
from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from kit.text import FreeText, FreeWords, Text
from services.outcomes.pricing import DecimalMark
from services.outcomes.schemas import Fact

Fields = dict[str, Any]
FACT_COLUMN = "facts."


class TextFacts(dict[str, str]):
    """A CSV record's `facts.<name>` cells, with the decimal mark its file writes."""

    def __init__(self, cells: dict[str, str], mark: DecimalMark) -> None:
        super().__init__(cells)
        self.mark: DecimalMark = mark


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_reference: FreeText = Field(min_length=1, max_length=200)


class EnrolmentLine(_Line):
    kind: Literal["enrolment"]
    contract_id: UUID
    cpr: SecretStr
    municipality_code: str = Field(pattern=r"^[0-9]{3}$")
    enrolment_date: date
    cohort: FreeText | None = Field(None, max_length=100)
    municipal_reference: FreeText | None = Field(None, max_length=200)
    segment: FreeText | None = Field(None, max_length=100)


class EligibilityLine(_Line):
    kind: Literal["eligibility"]
    participant_id: UUID


class ClaimLine(_Line):
    """A claim by reference to evidence held elsewhere (documents go through the single endpoint)."""

    kind: Literal["claim"]
    participant_id: UUID
    outcome_code: Text = Field(min_length=1, max_length=100)
    achievement_date: date
    evidence_reference: FreeText = Field(min_length=1, max_length=500)
    facts: dict[str, Fact] = Field(default_factory=dict, max_length=50)
    # Set when the facts came from CSV cells: the decimal mark the terms' types read them with.
    _text_facts: DecimalMark | None = PrivateAttr(default=None)

    @property
    def text_facts(self) -> DecimalMark | None:
        return self._text_facts


class VerificationLine(_Line):
    kind: Literal["verification"]
    claim_id: UUID
    decision: Literal["verified", "rejected"]
    reason: FreeWords | None = Field(None, min_length=1, max_length=2000)


class DisputeLine(_Line):
    kind: Literal["dispute"]
    claim_id: UUID
    reason: FreeWords = Field(min_length=1, max_length=2000)


Line = EnrolmentLine | EligibilityLine | ClaimLine | VerificationLine | DisputeLine
LINE_TYPES: dict[str, type[Line]] = {
    "enrolment": EnrolmentLine,
    "eligibility": EligibilityLine,
    "claim": ClaimLine,
    "verification": VerificationLine,
    "dispute": DisputeLine,
}


def validate(fields: Fields) -> Line | str:
    """The typed line, or the reason it is not one (naming the first bad field)."""
    kind = LINE_TYPES.get(str(fields.get("kind")))
    if kind is None:
        return f"kind: must be one of {', '.join(LINE_TYPES)}"
    try:
        line = kind.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"
    facts = fields.get("facts")
    if isinstance(line, ClaimLine) and isinstance(facts, TextFacts):
        line._text_facts = facts.mark
    return line


async def _text_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """Physical lines (without their ending), decoded as UTF-8 with an optional BOM."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    rest = ""
    async for chunk in chunks:
        lines = (rest + decoder.decode(chunk)).split("\n")
        rest = lines.pop()
        for line in lines:
            yield line.removesuffix("\r")
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest.removesuffix("\r")


async def read_ndjson(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, Fields | str]]:
    """(line number, fields) per non-empty line, or (line number, reason) for an unreadable one."""
    number = 0
    async for line in _text_lines(chunks):
        number += 1
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except ValueError:
            yield number, "not a JSON object"
            continue
        yield number, fields if isinstance(fields, dict) else "not a JSON object"


SEPARATORS = (",", ";", "\t")


def sniff_separator(header: str) -> str:
    """The separator a header row uses: the most frequent of `SEPARATORS` outside quotes (`,` on a tie or
    when there is none, as RFC 4180)."""
    unquoted = header.split('"')[::2]
    counts = {sep: sum(part.count(sep) for part in unquoted) for sep in SEPARATORS}
    return max(SEPARATORS, key=lambda sep: (counts[sep], sep == ","))


async def read_csv(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, Fields | str]]:
    """(first line number, fields) per record after the header row; empty cells are left out."""
    header: list[str] | None = None
    separator = ","
    record: list[str] = []
    number = start = 0
    async for line in _text_lines(chunks):
        number += 1
        if not record:
            start = number
        record.append(line)
        if sum(part.count('"') for part in record) % 2:  # a quoted field goes on in the next line
            continue
        text, record = "\n".join(record), []
        if not text.strip():
            continue
        if header is None:
            separator = sniff_separator(text)
        try:
            cells = next(csv.reader([text], delimiter=separator))
        except csv.Error as exc:
            yield start, f"not a CSV record: {exc}"
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) > len(header):
            yield start, "more cells than the header has columns"
            continue
        fields: Fields = {
            name: cell for name, cell in zip(header, cells, strict=False) if name and cell != ""
        }
        facts = {
            k.removeprefix(FACT_COLUMN): fields.pop(k) for k in list(fields) if k.startswith(FACT_COLUMN)
        }
        if facts:
            fields["facts"] = TextFacts(facts, "comma" if separator == ";" else "point")
        yield start, fields
    if record:
        yield start, "not a CSV record: a quoted field is not closed"


def reader(media_type: str, chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, Fields | str]]:
    return read_csv(chunks) if media_type == "text/csv" else read_ndjson(chunks)
