"""HTTP route for bulk import: a file in, a stream of per-line results out (NDJSON)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from kit.problems import PayloadTooLarge, UnsupportedMediaType, problem_responses
from services.outcomes import bulk
from services.outcomes.dependencies import OutcomeWriter, RuleDeps
from services.outcomes.errors import NotAPartner
from services.outcomes.settings import Settings

router = APIRouter(prefix="/v1", tags=["bulk"])

MAX_BYTES = 64 * 1024 * 1024
MEDIA_TYPES = ("application/x-ndjson", "text/csv")


@router.post(
    "/partnerships/{partnership_id}/bulk-imports",
    summary="Enrolments, eligibility and claim decisions in bulk (NDJSON or CSV), a result per line",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}},
            "description": 'One line per input line: {"line", "external_reference", "result": '
            '"accepted" | "duplicate" | "error", "id" | "reason"}, streamed as batches commit.',
        },
        **problem_responses(401, 403, 413, 415),
    },
)
async def bulk_import(
    partnership_id: UUID, request: Request, principal: OutcomeWriter, deps: RuleDeps
) -> StreamingResponse:
    if not principal.is_member(partnership_id):
        raise NotAPartner("you are not a partner in this partnership")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"send {' or '.join(MEDIA_TYPES)}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise PayloadTooLarge(f"at most {MAX_BYTES // (1024 * 1024)} MiB per request")
    lines = list(bulk.parse_lines(bytes(body), media_type))
    if len(lines) > bulk.MAX_LINES:
        raise PayloadTooLarge(f"at most {bulk.MAX_LINES} lines per request")
    settings: Settings = request.app.state.settings
    return StreamingResponse(
        bulk.run_import(
            request.app.state.sessionmaker,
            principal,
            partnership_id,
            lines,
            deps,
            settings.secret_key.get_secret_value().encode(),
        ),
        media_type="application/x-ndjson",
    )
