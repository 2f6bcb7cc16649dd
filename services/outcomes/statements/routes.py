"""HTTP routes for payment statements and the partnership aggregates, which carry no participant data."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from kit.auth import Principal
from kit.db import DbSession
from kit.openapi import sends
from kit.pagination import DEFAULT_LIMIT, IdList, Limit, Page, encode_cursor, parse_ids
from kit.problems import problem_responses
from kit.reads import Row
from services.outcomes import access
from services.outcomes.audits.service import audit_totals_of
from services.outcomes.cohorts.booking import cohort_totals_of
from services.outcomes.collaborators import Deps
from services.outcomes.dependencies import (
    ExpectedVersion,
    IdempotencyKey,
    OutcomeReader,
    OutcomeWriter,
    RegistryDeps,
    RuleDeps,
    cursor_after,
    etag,
)
from services.outcomes.models import PaymentLine, PaymentStatement
from services.outcomes.schemas import (
    PartnershipAggregates,
    StatementCreate,
    StatementRead,
)
from services.outcomes.statements import exports, small_cells
from services.outcomes.statements import service as statements

router = APIRouter(prefix="/v1", tags=["statements and ledger"])


# --- statements ----------------------------------------------------------------------------------------


async def _statement_read(
    session: DbSession, principal: Principal, statement: PaymentStatement, deps: Deps
) -> StatementRead:
    await session.refresh(statement)
    totals = await statements.outcome_totals_of(session, [statement.id])
    tranches = await statements.tranche_totals_of(session, [statement.id])
    variations = await statements.variation_totals_of(session, [statement.id])
    audits = await audit_totals_of(session, [statement.id])
    cohorts = await cohort_totals_of(session, [statement.id])
    lines = (
        await statements.statement_lines(session, statement.id)
        if access.may_read_statement_lines(principal, statement)
        else None
    )
    threshold = None if lines is not None else await _threshold(statement, deps)
    return _read(
        statement,
        lines,
        totals.get(statement.id, []),
        tranches.get(statement.id, []),
        variations.get(statement.id, []),
        audits.get(statement.id, []),
        cohorts.get(statement.id, []),
        threshold,
    )


async def _threshold(statement: PaymentStatement, deps: Deps) -> int:
    """The small-cell threshold for a reader of the statement's totals only (small_cells.py)."""
    return await deps.contracts.small_cell_threshold(statement.partnership_id, token=deps.token)


def _read(
    statement: PaymentStatement,
    lines: list[PaymentLine] | None,
    outcomes: list[dict[str, Any]],
    tranches: list[dict[str, Any]],
    variations: list[dict[str, Any]],
    audits: list[dict[str, Any]],
    cohorts: list[dict[str, Any]],
    threshold: int | None = None,
) -> StatementRead:
    """`threshold`: the reader gets totals only, under the small-cell rule; None: exact."""
    withheld: dict[str, Any] = {}
    if threshold is not None:
        outcomes, complete = small_cells.statement_outcomes(outcomes, threshold)
        audits, audited = small_cells.statement_audits(audits, threshold)
        names = () if complete and audited else small_cells.STATEMENT_TOTALS
        withheld = {"small_cell_threshold": threshold, "suppressed": list(names), **dict.fromkeys(names)}
    return StatementRead.model_validate(
        Row(
            statement,
            lines=lines,
            outcomes=outcomes,
            tranches=tranches,
            variations=variations,
            audits=audits,
            cohorts=cohorts,
            **withheld,
        ),
        from_attributes=True,
    )


@router.post(
    "/payment-statements",
    status_code=201,
    response_model=StatementRead,
    summary="Generate (or refresh) the draft statement for a contract, payer and period",
    responses={**problem_responses(400, 401, 403, 409, 422, 503), **sends(201, "ETag", "Location")},
)
async def generate_statement(
    body: StatementCreate,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    deps: RegistryDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    statement = await statements.generate_statement(session, principal, body, deps)
    read = await _statement_read(session, principal, statement, deps)
    return await idem.respond(
        201, read, {**etag(statement.version), "Location": f"/v1/payment-statements/{statement.id}"}
    )


@router.get(
    "/payment-statements",
    response_model=Page[StatementRead],
    summary="Statements visible to you (batch: `ids=`)",
    responses=problem_responses(400, 401, 403),
)
async def list_statements(
    session: DbSession,
    principal: OutcomeReader,
    deps: RuleDeps,
    contract_id: UUID | None = None,
    ids: IdList = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    lines: Annotated[
        bool,
        Query(
            description="`false`: totals only, `lines` null (a dashboard's listing stays small). Lines come "
            "only to the provider and the statement's payer, whatever this says."
        ),
    ] = True,
) -> Page[StatementRead]:
    rows = await statements.list_statements(
        session,
        principal,
        contract_id=contract_id,
        ids=parse_ids(ids),
        after=cursor_after(cursor),
        limit=limit,
    )
    line_readers = {s.id for s in rows if access.may_read_statement_lines(principal, s)}
    with_lines = [s.id for s in rows if lines and s.id in line_readers]
    thresholds = {
        p: await deps.contracts.small_cell_threshold(p, token=deps.token)
        for p in {s.partnership_id for s in rows if s.id not in line_readers}
    }
    found = await statements.lines_of(session, with_lines) if with_lines else {}
    ids_ = [s.id for s in rows]
    totals = await statements.outcome_totals_of(session, ids_) if rows else {}
    tranches = await statements.tranche_totals_of(session, ids_) if rows else {}
    variations = await statements.variation_totals_of(session, ids_) if rows else {}
    audits = await audit_totals_of(session, ids_) if rows else {}
    cohorts = await cohort_totals_of(session, ids_) if rows else {}
    return Page(
        items=[
            _read(
                s,
                found.get(s.id, []) if s.id in with_lines else None,
                totals.get(s.id, []),
                tranches.get(s.id, []),
                variations.get(s.id, []),
                audits.get(s.id, []),
                cohorts.get(s.id, []),
                thresholds.get(s.partnership_id) if s.id not in line_readers else None,
            )
            for s in rows
        ],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get(
    "/payment-statements/{statement_id}",
    response_model=StatementRead,
    responses={**problem_responses(401, 403, 404), **sends(200, "ETag")},
)
async def get_statement(
    statement_id: UUID, session: DbSession, principal: OutcomeReader, response: Response, deps: RuleDeps
) -> StatementRead:
    statement = await statements.get_statement(session, principal, statement_id)
    response.headers.update(etag(statement.version))
    return await _statement_read(session, principal, statement, deps)


@router.post(
    "/payment-statements/{statement_id}/issue",
    response_model=StatementRead,
    summary="Issue a draft statement: it becomes immutable and hashed",
    responses={**problem_responses(400, 401, 403, 404, 412), **sends(200, "ETag")},
)
async def issue_statement(
    statement_id: UUID,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    expected: ExpectedVersion,
    deps: RuleDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    statement = await statements.issue_statement(
        session, principal, statement_id, expected_version=expected, deps=deps
    )
    return await idem.respond(
        200, await _statement_read(session, principal, statement, deps), etag(statement.version)
    )


@router.post(
    "/payment-statements/{statement_id}/payment",
    response_model=StatementRead,
    summary="The payer marks an issued statement paid",
    responses={**problem_responses(400, 401, 403, 404, 409, 412), **sends(200, "ETag")},
)
async def pay_statement(
    statement_id: UUID,
    session: DbSession,
    principal: OutcomeWriter,
    idem: IdempotencyKey,
    expected: ExpectedVersion,
    deps: RuleDeps,
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    statement = await statements.pay_statement(session, principal, statement_id, expected_version=expected)
    return await idem.respond(
        200, await _statement_read(session, principal, statement, deps), etag(statement.version)
    )


# --- partnership aggregates ------------------------------------------------------------------------------


@router.get(
    "/partnerships/{partnership_id}/outcome-aggregates",
    response_model=PartnershipAggregates,
    summary="Enrolment, verified outcomes, value earned and pending, remaining cap: no participant data",
    description="Exact for the provider, the evaluator and a paying municipality. For everyone else every "
    "count is under the partnership's small-cell threshold (read from the registry with your token, so "
    "`contracts:read` is needed too): a count of the threshold or fewer, and any amount or total that would "
    "give it back, is null and named in `suppressed` (docs/open-data.md, In the outcome service).",
    responses=problem_responses(401, 403, 503),
)
async def partnership_aggregates(
    partnership_id: UUID, session: DbSession, principal: OutcomeReader, deps: RuleDeps
) -> dict[str, Any]:
    return await statements.partnership_aggregates(session, principal, partnership_id, deps)


# --- files for controllers: CSV and XLSX -----------------------------------------------------------------

ExportFormat = Annotated[
    Literal["csv", "xlsx"],
    Query(description="`xlsx`: typed cells (money as numbers, dates as dates); `csv`: RFC 4180, UTF-8."),
]
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {exports.CSV_MEDIA_TYPE: {}, exports.XLSX_MEDIA_TYPE: {}}, "description": "The file."}
}
STATEMENT_COLUMNS: tuple[tuple[str, exports.Kind], ...] = (
    ("statement_id", "text"),
    ("period_start", "date"),
    ("period_end", "date"),
    ("status", "text"),
    ("currency", "text"),
    ("kind", "text"),
    ("claim_id", "text"),
    ("outcome_code", "text"),
    ("achievement_date", "date"),
    ("priced_on", "date"),
    ("tariff_share", "money"),
    ("cut_share", "money"),
    ("amount", "money"),
    ("tranche_code", "text"),
    ("variation_code", "text"),
    ("audit_id", "text"),
)

# What a reader who gets totals only (no claim ids) receives instead of the lines, under the small-cell rule:
# a withheld figure is an empty cell, named in `suppressed`.
STATEMENT_TOTAL_COLUMNS: tuple[tuple[str, exports.Kind], ...] = (
    *STATEMENT_COLUMNS[:5],
    ("outcome_code", "text"),
    ("claim_lines", "count"),
    ("adjustment_lines", "count"),
    ("tariff_share", "money"),
    ("cut_share", "money"),
    ("amount", "money"),
    ("suppressed", "text"),
)


def _file(tables: list[exports.Table], format: str, filename: str) -> Response:
    body, media_type = (
        (exports.to_csv(tables[0]), exports.CSV_MEDIA_TYPE)
        if format == "csv"
        else (exports.to_xlsx(tables), exports.XLSX_MEDIA_TYPE)
    )
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.{format}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/payment-statements/{statement_id}/export",
    response_class=Response,
    summary="The statement as a file for Excel (`format=xlsx`) or any tool (`format=csv`): its lines for "
    "the provider and its payer, its totals by outcome for every other reader",
    responses={**_FILE_RESPONSES, **problem_responses(401, 403, 404)},
)
async def export_statement(
    statement_id: UUID,
    session: DbSession,
    principal: OutcomeReader,
    deps: RuleDeps,
    format: ExportFormat = "xlsx",
) -> Response:
    statement = await statements.get_statement(session, principal, statement_id)
    read = await _statement_read(session, principal, statement, deps)
    head = (read.id, read.period_start, read.period_end, read.status, read.currency)
    if read.lines is None:
        totals: list[list[exports.Cell]] = [
            [
                *head,
                x.outcome_code,
                x.claim_lines,
                x.adjustment_lines,
                x.tariff_share,
                x.cut_share,
                x.amount,
                " ".join(x.suppressed),
            ]
            for x in read.outcomes
        ]
        table = exports.Table("Statement totals", STATEMENT_TOTAL_COLUMNS, totals)
        return _file([table], format, f"statement-{read.id}")
    rows: list[list[exports.Cell]] = [
        [
            *head,
            x.kind,
            x.claim_id,
            x.outcome_code,
            x.achievement_date,
            x.priced_on,
            x.tariff_share,
            x.cut_share,
            x.amount,
            x.tranche_code,
            x.variation_code,
            x.audit_id,
        ]
        for x in read.lines
    ]
    table = exports.Table("Statement lines", STATEMENT_COLUMNS, rows)
    return _file([table], format, f"statement-{read.id}")


@router.get(
    "/partnerships/{partnership_id}/outcome-aggregates/export",
    response_class=Response,
    summary="The aggregates as a file: verified outcomes by month, and per contract (no participant data)",
    description="What the aggregates read gives you, small cells withheld alike: an empty cell, named in "
    "the row's `suppressed` column.",
    responses={**_FILE_RESPONSES, **problem_responses(401, 403, 503)},
)
async def export_partnership_aggregates(
    partnership_id: UUID,
    session: DbSession,
    principal: OutcomeReader,
    deps: RuleDeps,
    format: ExportFormat = "xlsx",
    table: Annotated[
        Literal["outcomes", "contracts"], Query(description="For `csv`, one file per table: which.")
    ] = "outcomes",
) -> Response:
    found = PartnershipAggregates.model_validate(
        await statements.partnership_aggregates(session, principal, partnership_id, deps)
    )
    outcomes = exports.Table(
        "Verified outcomes",
        (
            ("outcome_code", "text"),
            ("month", "text"),
            ("verified", "count"),
            ("value", "money"),
            ("suppressed", "text"),
        ),
        [
            (m.outcome_code, m.month, m.verified, m.value, " ".join(m.suppressed))
            for m in found.verified_outcomes
        ],
    )
    contracts = exports.Table(
        "Contracts",
        (
            ("contract_id", "text"),
            ("currency", "text"),
            ("earned", "money"),
            ("pending_claims", "count"),
            ("pending_value", "money"),
            ("contract_cap", "money"),
            ("remaining_cap", "money"),
            ("suppressed", "text"),
        ),
        [
            [
                c.contract_id,
                c.currency,
                c.earned,
                c.pending_claims,
                c.pending_value,
                c.contract_cap,
                c.remaining_cap,
                " ".join(c.suppressed),
            ]
            for c in found.contracts
        ],
    )
    tables = [contracts, outcomes] if format == "csv" and table == "contracts" else [outcomes, contracts]
    return _file(tables, format, f"outcome-aggregates-{partnership_id}")
