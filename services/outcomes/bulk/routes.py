"""HTTP route for bulk import: a file in, read as it arrives; a stream of per-line results out (NDJSON)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

from kit.problems import PayloadTooLarge, UnsupportedMediaType, problem_responses
from services.outcomes.bulk import lines as bulk_lines
from services.outcomes.bulk import service as bulk
from services.outcomes.dependencies import OutcomeWriter, RuleDeps
from services.outcomes.errors import NotAPartner
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
            "commit.",
        },
        **problem_responses(401, 403, 411, 413, 415),
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
    records = bulk_lines.reader(media_type, _limited(request))
    return ResultStream(
        run.run(records), media_type="application/x-ndjson", background=BackgroundTask(run.refresh_statistics)
    )
