"""Reading bulk lines as the body arrives: any split of the bytes reads the same records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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
