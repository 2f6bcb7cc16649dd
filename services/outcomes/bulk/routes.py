"""HTTP routes for bulk import: a file in, read as it arrives; a stream of per-line results out (NDJSON);
the import's progress to poll meanwhile, and its results to fetch again later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

from kit.auth import Principal
from kit.db import DbSession
from kit.openapi import RESPONSE_HEADERS
from kit.problems import PayloadTooLarge, UnsupportedMediaType, problem_responses
from services.outcomes import access
from services.outcomes.bulk import lines as bulk_lines
from services.outcomes.bulk import service as bulk
from services.outcomes.bulk.models import BulkImport, BulkImportLine
from services.outcomes.dependencies import OutcomeReader, OutcomeWriter, RuleDeps
from services.outcomes.errors import BulkImportNotFound, NotAPartner
from services.outcomes.settings import Settings

router = APIRouter(prefix="/v1", tags=["bulk"])

MAX_BYTES = 64 * 1024 * 1024
MEDIA_TYPES = ("application/x-ndjson", "text/csv")


class ResultStream(StreamingResponse):
    """Streams without Starlette's disconnect listener: that listener reads the request's messages, and
    here the response's own iterator is still reading the request body. A client that goes away is seen
    when the body stops arriving; lines already read are still applied (their results are durable)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)
        if self.background is not None:
            await self.background()


async def _limited(request: Request) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:  # the answer has begun (200), so the import ends with an error line instead
            raise bulk.StopReading(f"at most {MAX_BYTES // (1024 * 1024)} MiB per request")
        yield chunk


@router.post(
    "/partnerships/{partnership_id}/bulk-imports",
    summary="Enrolments, eligibility, claims, claim decisions and disputes in bulk (NDJSON or CSV), "
    "a result per line",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": 'One line per input line, in input order: {"line", "external_reference", '
            '"result": "accepted" | "duplicate" | "error", "id" | "code", "reason"}, streamed as batches '
            "commit. `Location` names the import: poll it for progress, fetch its results again later.",
            "headers": {"Location": RESPONSE_HEADERS["Location"]},
        },
        **problem_responses(401, 403, 411, 413, 415),
    },
)
async def bulk_import(
    partnership_id: UUID, request: Request, principal: OutcomeWriter, deps: RuleDeps
) -> StreamingResponse:
    if not principal.is_member(partnership_id):
        raise NotAPartner("you are not a partner in this partnership")
    if not access.may_send_bulk_import(principal, partnership_id):
        raise NotAPartner("your role in this partnership writes no line a bulk import carries")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"send {' or '.join(MEDIA_TYPES)}")
    length = request.headers.get("content-length")
    if length is not None and length.isascii() and length.isdigit() and int(length) > MAX_BYTES:
        raise PayloadTooLarge(f"at most {MAX_BYTES // (1024 * 1024)} MiB per request")
    settings: Settings = request.app.state.settings
    run = bulk.Import(
        request.app.state.sessionmaker,
        principal,
        partnership_id,
        deps,
        settings.secret_key.get_secret_value().encode(),
    )
    import_id = await run.start()
    records = bulk_lines.reader(media_type, _limited(request))
    return ResultStream(
        run.run(records),
        media_type="application/x-ndjson",
        headers={"Location": f"/v1/bulk-imports/{import_id}"},
        background=BackgroundTask(run.refresh_statistics),
    )


class BulkImportRead(BaseModel):
    id: UUID
    partnership_id: UUID
    status: str = Field(description="`running` while lines are being read and applied, then `done`.")
    lines_done: int = Field(description="Lines applied and committed so far, their results fetchable.")
    lines_total: int | None = Field(description="How many lines the file had: known once it was all read.")
    created_at: datetime
    finished_at: datetime | None


async def _sent_by_caller(session: DbSession, principal: Principal, import_id: UUID) -> BulkImport:
    found = await session.scalar(access.readable_bulk_imports(principal).where(BulkImport.id == import_id))
    if found is None:
        raise BulkImportNotFound()
    return found


@router.get(
    "/partnerships/{partnership_id}/bulk-imports",
    response_model=list[BulkImportRead],
    summary="Your organisation's imports into the partnership, newest first (the last 100)",
    responses=problem_responses(401, 403),
)
async def list_bulk_imports(
    partnership_id: UUID, session: DbSession, principal: OutcomeReader
) -> list[BulkImportRead]:
    rows = await session.scalars(
        access.readable_bulk_imports(principal)
        .where(BulkImport.partnership_id == partnership_id)
        .order_by(BulkImport.created_at.desc(), BulkImport.id)
        .limit(100)
    )
    return [BulkImportRead.model_validate(row, from_attributes=True) for row in rows]


@router.get(
    "/bulk-imports/{import_id}",
    response_model=BulkImportRead,
    summary="An import's progress: lines done, and the total once the whole file has been read",
    responses=problem_responses(401, 403, 404),
)
async def get_bulk_import(import_id: UUID, session: DbSession, principal: OutcomeReader) -> BulkImportRead:
    found = await _sent_by_caller(session, principal, import_id)
    return BulkImportRead.model_validate(found, from_attributes=True)


@router.get(
    "/bulk-imports/{import_id}/results",
    response_class=StreamingResponse,
    summary="The import's per-line results again, as they were streamed (NDJSON, in input order)",
    responses={200: {"content": {"application/x-ndjson": {}}}, **problem_responses(401, 403, 404)},
)
async def read_bulk_import_results(
    import_id: UUID,
    session: DbSession,
    principal: OutcomeReader,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="Only lines after this line number.")] = 0,
) -> StreamingResponse:
    await _sent_by_caller(session, principal, import_id)
    results = await session.scalars(
        select(BulkImportLine.result)
        .where(BulkImportLine.import_id == import_id, BulkImportLine.line > after)
        .order_by(BulkImportLine.line)
    )
    return StreamingResponse(iter(["".join(results)]), media_type="application/x-ndjson")
