"""Statements and aggregates as files a controller opens in Excel: read back with openpyxl and csv, the
cells carry their types (money a number of the exact digits, dates dates) and the totals match the API."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
from openpyxl import load_workbook

from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
    quarter,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _as_date(value: object) -> date:
    assert isinstance(value, datetime | date), value  # Excel has no date-only type: openpyxl reads datetimes
    return value.date() if isinstance(value, datetime) else value


async def test_a_statement_and_the_aggregates_export_as_typed_xlsx_and_as_csv(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(31),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=30),
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    achieved = TODAY - timedelta(days=1)
    made = await claim(outcomes, cast.provider, person["id"], "job_start", achieved)
    await decide(outcomes, cast.payer_a, made["id"], "verified")
    start, end = quarter(TODAY)
    body = {
        "contract_id": str(contract_id),
        "payer_organisation_id": str(cast.payer_b.organisation_id),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }
    statement = check(
        await outcomes.post("/v1/payment-statements", json=body, headers={**cast.provider.headers, **key()}),
        201,
    )
    url = f"/v1/payment-statements/{statement['id']}/export"

    xlsx = await outcomes.get(url, headers=cast.provider.headers)
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"] == XLSX
    assert xlsx.headers["content-disposition"] == f'attachment; filename="statement-{statement["id"]}.xlsx"'
    sheet = load_workbook(io.BytesIO(xlsx.content))["Statement lines"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header[:3] == ("statement_id", "period_start", "period_end")
    assert len(rows) == len(statement["lines"]) == 1
    line = dict(zip(header, rows[0], strict=True))
    assert line["claim_id"] == made["id"]
    assert (_as_date(line["achievement_date"]), _as_date(line["period_start"])) == (achieved, start)
    assert type(line["amount"]) in (int, float)  # a number cell, not text
    assert (
        Decimal(str(line["amount"]))
        == Decimal(statement["lines"][0]["amount"])
        == Decimal(statement["total"])
    )
    amount_cell = sheet.cell(row=2, column=header.index("amount") + 1)
    assert amount_cell.number_format == "#,##0.00"

    plain = await outcomes.get(url, params={"format": "csv"}, headers=cast.provider.headers)
    assert plain.headers["content-type"] == "text/csv; charset=utf-8"
    assert plain.content.startswith("\ufeff".encode())  # so Excel reads it as UTF-8
    records = list(csv.DictReader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert [(r["claim_id"], r["amount"], r["achievement_date"]) for r in records] == [
        (made["id"], statement["lines"][0]["amount"], achieved.isoformat())
    ]

    aggregates_url = f"/v1/partnerships/{cast.partnership_id}/outcome-aggregates"
    # The provider's exact counts; what investors get under the small-cell rule: test_small_cells.py.
    expected = check(await outcomes.get(aggregates_url, headers=cast.provider.headers), 200)
    book = await outcomes.get(f"{aggregates_url}/export", headers=cast.provider.headers)
    assert book.status_code == 200, book.text
    workbook = load_workbook(io.BytesIO(book.content))
    assert workbook.sheetnames == ["Verified outcomes", "Contracts"]
    months = list(workbook["Verified outcomes"].iter_rows(values_only=True))
    assert months[0] == ("outcome_code", "month", "verified", "value", "suppressed")
    assert [(code, month, n, Decimal(str(v)), none) for code, month, n, v, none in months[1:]] == [
        (m["outcome_code"], m["month"], m["verified"], Decimal(m["value"]), None)
        for m in expected["verified_outcomes"]
    ]
    per_contract = await outcomes.get(
        f"{aggregates_url}/export",
        params={"format": "csv", "table": "contracts"},
        headers=cast.provider.headers,
    )
    (row,) = csv.DictReader(io.StringIO(per_contract.content.decode("utf-8-sig")))
    (contract,) = expected["contracts"]
    assert (row["contract_id"], row["earned"], row["pending_claims"]) == (
        contract["contract_id"],
        contract["earned"],
        str(contract["pending_claims"]),
    )

    outsider = await outcomes.get(url, headers=cast.outsider.headers)
    assert outsider.status_code == 404
