"""HTTP routes for the partnership's ledger: pages in sequence order, verification of the stored chain,
and the whole ledger as NDJSON (streamed). Any partner reads it, each event shaped for its audience
(ledger/disclosures.py): person-level events sealed for those that may not see the participant.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal
from kit.db import DbSession
from kit.pagination import DEFAULT_LIMIT, Limit
from kit.problems import problem_responses
from services.outcomes import access
from services.outcomes.dependencies import FeedReader, LedgerReader
from services.outcomes.errors import NotAPartner
from services.outcomes.ledger import export
from services.outcomes.ledger import service as ledger
from services.outcomes.models import LedgerHead
from services.outcomes.schemas import ChainVerification, LedgerEventRead, LedgerPage

router = APIRouter(prefix="/v1", tags=["statements and ledger"])
# The export is documented with the feed, and registered after it (the app's router order is the
# OpenAPI document's path order).
export_router = APIRouter(prefix="/v1", tags=["feed"])


def _ledger_reader(principal: Principal, partnership_id: UUID) -> None:
    if not access.may_read_partnership(principal, partnership_id):
        raise NotAPartner("you are not a partner in this partnership")


@router.get(
    "/partnerships/{partnership_id}/ledger",
    response_model=LedgerPage,
    summary="The partnership's hash-chained ledger, in sequence order",
    responses=problem_responses(400, 401, 403, 422),
)
async def read_ledger(
    partnership_id: UUID,
    session: DbSession,
    principal: LedgerReader,
    # Sequences are BIGINT: a larger number is a 422, not an overflow at the database.
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Return events after this sequence number.")
    ] = 0,
    limit: Limit = DEFAULT_LIMIT,
) -> LedgerPage:
    _ledger_reader(principal, partnership_id)
    events = await ledger.read_events(session, partnership_id, after=after, limit=limit)
    audiences = access.principal_audiences(principal, [partnership_id])
    return LedgerPage(
        items=[LedgerEventRead(**item) for item in await ledger.shaped_items(session, events, audiences)],
        next_cursor=str(events[-1].sequence) if len(events) == limit else None,
    )


@router.get(
    "/partnerships/{partnership_id}/ledger/verification",
    response_model=ChainVerification,
    summary="Verify the whole stored chain and pinpoint the first broken link",
    responses=problem_responses(401, 403),
)
async def verify_ledger(partnership_id: UUID, session: DbSession, principal: LedgerReader) -> JSONResponse:
    _ledger_reader(principal, partnership_id)
    report = await ledger.verify_partnership_chain(session, partnership_id)
    body = ChainVerification(
        partnership_id=partnership_id,
        valid=report.valid,
        checked=report.checked,
        last_sequence=report.last_sequence,
        last_hash=report.last_hash,
        broken_at=report.broken_at,
        reason=report.reason,
    )
    return JSONResponse(body.model_dump(mode="json"))


@export_router.get(
    "/partnerships/{partnership_id}/ledger/export",
    summary="The whole ledger as NDJSON chain items, verifiable offline with chain.py",
    response_class=StreamingResponse,
    responses={200: {"content": {export.MEDIA_TYPE: {}}}, **problem_responses(401, 403)},
)
async def export_ledger(partnership_id: UUID, request: Request, principal: FeedReader) -> StreamingResponse:
    if not access.may_read_partnership(principal, partnership_id):
        raise NotAPartner("you are not a partner in this partnership")
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        head = await session.get(LedgerHead, partnership_id)
    upto = head.last_sequence if head else 0
    audience = access.principal_audiences(principal, [partnership_id])[partnership_id]
    return StreamingResponse(
        export.export_lines(sessionmaker, partnership_id, audience, upto=upto),
        media_type=export.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="ledger-{partnership_id}.ndjson"',
            "Ledger-Last-Sequence": str(upto),
            "Ledger-Last-Hash": head.last_hash if head else "0" * 64,
        },
    )
