"""HTTP route for the ledger export (NDJSON, streamed)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import CurrentPrincipal
from kit.problems import Forbidden, problem_responses
from services.outcomes.errors import NotAPartner
from services.outcomes.ledger import export
from services.outcomes.models import LedgerHead
from services.outcomes.statements.service import may_read_partnership

router = APIRouter(prefix="/v1", tags=["feed"])


@router.get(
    "/partnerships/{partnership_id}/ledger/export",
    summary="The whole ledger as NDJSON chain items, verifiable offline with chain.py",
    response_class=StreamingResponse,
    responses={200: {"content": {export.MEDIA_TYPE: {}}}, **problem_responses(401, 403)},
)
async def export_ledger(
    partnership_id: UUID, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    if not (principal.has_scope("feed:read") or principal.has_scope("outcomes:read")):
        raise Forbidden("this token lacks the `feed:read` scope", required_scope="feed:read")
    if not may_read_partnership(principal, partnership_id):
        raise NotAPartner("you are not a partner in this partnership")
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        head = await session.get(LedgerHead, partnership_id)
    upto = head.last_sequence if head else 0
    return StreamingResponse(
        export.export_lines(sessionmaker, partnership_id, upto=upto),
        media_type=export.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="ledger-{partnership_id}.ndjson"',
            "Ledger-Last-Sequence": str(upto),
            "Ledger-Last-Hash": head.last_hash if head else "0" * 64,
        },
    )
