"""Reading bulk lines as the body arrives: any split of the bytes reads the same records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import cast

import pytest

from services.outcomes import pricing
from services.outcomes.bulk.lines import (
    ClaimLine,
    EnrolmentLine,
    read_csv,
    read_ndjson,
    sniff_separator,
    validate,
)

NDJSON = '{"kind": "claim", "external_reference": "é-1"}\r\n\n[1, 2]\n{oops\n{"x": "ø"}'.encode()
CSV = (
    "\ufeffkind,external_reference,cohort\n"
    'enrolment,a-1,"Spring\n2026, Aarhus"\n'
    "\n"
    'eligibility,"b ""quoted""",\n'
    "claim,c,d,e\n"
).encode()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(reader: object, data: bytes, size: int) -> list[object]:
    return [record async for record in reader(_chunks(data, size))]  # type: ignore[operator]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
async def test_ndjson_reads_the_same_however_the_body_is_split(size: int) -> None:
    assert await _read(read_ndjson, NDJSON, size) == [
        (1, {"kind": "claim", "external_reference": "é-1"}),
        (3, "not a JSON object"),
        (4, "not a JSON object"),
        (5, {"x": "ø"}),
    ]


@pytest.mark.parametrize("size", [1, 5, 1000])
async def test_csv_records_may_span_lines_inside_quotes(size: int) -> None:
    assert await _read(read_csv, CSV, size) == [
        (2, {"kind": "enrolment", "external_reference": "a-1", "cohort": "Spring\n2026, Aarhus"}),
        (5, {"kind": "eligibility", "external_reference": 'b "quoted"'}),
        (6, "more cells than the header has columns"),
    ]


async def test_an_unclosed_quote_is_one_error_not_a_hang() -> None:
    data = b'kind,external_reference\nenrolment,"never closed\nclaim,x\n'
    assert await _read(read_csv, data, 4) == [(2, "not a CSV record: a quoted field is not closed")]


def test_validation_names_the_first_bad_field() -> None:
    assert validate({"kind": "teleport"}).startswith("kind: must be one of enrolment")  # type: ignore[union-attr]
    assert validate({"kind": "claim", "external_reference": "r"}) == "participant_id: Field required"
    line = validate(
        {
            "kind": "claim",
            "external_reference": "r",
            "participant_id": "6f1f2c7e-6f77-4c38-9a4b-2f0a1d0c9e11",
            "outcome_code": "job_start",
            "achievement_date": "2026-10-01",
            "evidence_reference": "eIndkomst",
        }
    )
    assert isinstance(line, ClaimLine)
    enrolment = validate(
        {
            "kind": "enrolment",
            "external_reference": "r",
            "contract_id": "6f1f2c7e-6f77-4c38-9a4b-2f0a1d0c9e11",
            "cpr": "0101901234",
            "municipality_code": "657",
            "enrolment_date": "2026-10-01",
            "surprise": 1,
        }
    )
    assert enrolment == "surprise: Extra inputs are not permitted"
    assert not isinstance(enrolment, EnrolmentLine)


# What Excel writes for "CSV UTF-8" on a Danish machine: a byte order mark, `;` between cells, CRLF, and
# cells holding `,` unquoted (the decimal comma's home) or quoted where they hold `;`.
EXCEL_DA = (
    "\ufeffkind;external_reference;cohort\r\n"
    "enrolment;a-1;Forår 2026, Aarhus\r\n"
    'eligibility;"b;2";\r\n'
    "\r\n"
    "claim;c;d;e\r\n"
).encode()


@pytest.mark.parametrize("size", [1, 3, 1000])
async def test_excel_danish_csv_reads_like_rfc_4180(size: int) -> None:
    assert await _read(read_csv, EXCEL_DA, size) == [
        (2, {"kind": "enrolment", "external_reference": "a-1", "cohort": "Forår 2026, Aarhus"}),
        (3, {"kind": "eligibility", "external_reference": "b;2"}),
        (5, "more cells than the header has columns"),
    ]


@pytest.mark.parametrize(
    ("header", "separator"),
    [
        ("kind,external_reference", ","),
        ("kind;external_reference;cohort", ";"),
        ("kind\texternal_reference", "\t"),
        ('"kind;a",b,c', ","),  # a `;` inside quotes is a cell's, not a separator
        ("kind", ","),
    ],
)
def test_the_separator_is_sniffed_from_the_header_row(header: str, separator: str) -> None:
    assert sniff_separator(header) == separator


CLAIM_HEADER = "kind,external_reference,participant_id,outcome_code,achievement_date,evidence_reference"
PARTICIPANT = "0b6f2d1e-8a6c-4a57-9a43-7a5f3e1c2d10"


@pytest.mark.parametrize(
    ("separator", "hours", "mark"),
    [(",", "37.5", "point"), (";", "37,5", "comma"), ("\t", "37.5", "point")],
)
async def test_a_claim_records_facts_columns_become_its_facts_as_text_with_the_files_decimal_mark(
    separator: str, hours: str, mark: str
) -> None:
    header = (
        CLAIM_HEADER.replace(",", separator) + f"{separator}facts.hours_per_week{separator}facts.off_benefit"
    )
    cells = ["claim", "c-1", PARTICIPANT, "job_start", "2026-11-20", "eIndkomst", hours, "TRUE"]
    data = f"{header}\r\n{separator.join(cells)}\r\n".encode()
    records = await _read(read_csv, data, 5)
    assert len(records) == 1
    number, fields = cast(tuple[int, object], records[0])
    assert number == 2
    assert isinstance(fields, dict)
    assert fields["facts"] == {"hours_per_week": hours, "off_benefit": "TRUE"}
    line = validate(fields)
    assert isinstance(line, ClaimLine)
    assert (line.facts, line.text_facts) == ({"hours_per_week": hours, "off_benefit": "TRUE"}, mark)


def test_ndjson_facts_stay_typed_json() -> None:
    line = validate(
        {
            "kind": "claim",
            "external_reference": "c-2",
            "participant_id": PARTICIPANT,
            "outcome_code": "job_start",
            "achievement_date": "2026-11-20",
            "evidence_reference": "eIndkomst",
            "facts": {"hours_per_week": "37.5", "off_benefit": True},
        }
    )
    assert isinstance(line, ClaimLine)
    assert line.text_facts is None


SPECS = (
    pricing.FactSpec("hours_per_week", "decimal"),
    pricing.FactSpec("weeks_in_work", "integer"),
    pricing.FactSpec("off_benefit", "boolean"),
    pricing.FactSpec("qualification_level", "choice", ("1", "2", "3")),
)


@pytest.mark.parametrize(
    ("mark", "cells", "typed"),
    [
        (
            "point",
            {
                "hours_per_week": "37.5",
                "weeks_in_work": "26",
                "off_benefit": "TRUE",
                "qualification_level": "2",
            },
            {
                "hours_per_week": Decimal("37.5"),
                "weeks_in_work": 26,
                "off_benefit": True,
                "qualification_level": "2",
            },
        ),
        (
            "comma",
            {
                "hours_per_week": " 15,5 ",
                "weeks_in_work": "26",
                "off_benefit": "FALSK",
                "qualification_level": "3",
            },
            {
                "hours_per_week": Decimal("15.5"),
                "weeks_in_work": 26,
                "off_benefit": False,
                "qualification_level": "3",
            },
        ),
    ],
)
def test_text_cells_are_typed_by_the_terms_declarations(
    mark: pricing.DecimalMark, cells: dict[str, str], typed: dict[str, object]
) -> None:
    assert pricing.read_text_facts(SPECS, cells, mark=mark) == typed


@pytest.mark.parametrize(
    ("mark", "name", "cell"),
    [
        ("comma", "hours_per_week", "1.500"),  # Danish Excel's thousands separator, not a decimal point
        ("point", "hours_per_week", "7,5"),
        ("point", "hours_per_week", "NaN"),
        ("point", "weeks_in_work", "26.0"),
        ("point", "off_benefit", "ja"),
    ],
)
def test_a_cell_its_type_cannot_read_is_refused_naming_the_fact(
    mark: pricing.DecimalMark, name: str, cell: str
) -> None:
    with pytest.raises(pricing.Refused) as refused:
        pricing.read_text_facts(SPECS, {name: cell}, mark=mark)
    assert refused.value.path == f"facts.{name}"
