"""HTTP routes for a draft's files: upload (the request body is the file), metadata and download."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from kit.db import DbSession
from kit.problems import problem_responses
from services.contracts.attachments import service
from services.contracts.dependencies import ContractReader, ContractWriter, CurrentSettings, IdempotencyKey
from services.contracts.errors import AttachmentTooLarge
from services.contracts.routes import IMMUTABLE, READ_PROBLEMS, attachment_read
from services.contracts.schemas import AttachmentRead

router = APIRouter(prefix="/v1", tags=["attachments"])


async def _upload_size_limit(request: Request, settings: CurrentSettings) -> None:
    """Refuse an oversized upload from its Content-Length, before its body is read."""
    length = request.headers.get("content-length")
    if (
        length is not None
        and length.isascii()
        and length.isdigit()
        and int(length) > settings.max_attachment_bytes
    ):
        raise AttachmentTooLarge(
            f"at most {settings.max_attachment_bytes} bytes", max_bytes=settings.max_attachment_bytes
        )


@router.post(
    "/contract-versions/{version_id}/attachments",
    status_code=201,
    response_model=AttachmentRead,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
    dependencies=[Depends(_upload_size_limit)],
    summary="Attach a file to a draft (the request body is the file)",
    openapi_extra={"requestBody": {"required": True, "content": {"*/*": {"schema": {"format": "binary"}}}}},
)
async def add_attachment(
    version_id: UUID,
    request: Request,
    session: DbSession,
    principal: ContractWriter,
    idempotency: IdempotencyKey,
    settings: CurrentSettings,
    filename: Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")],
) -> Response:
    if replay := await idempotency.replay():
        return replay
    content = await request.body()
    media_type = request.headers.get("content-type") or "application/octet-stream"
    attachment = await service.add_attachment(
        session,
        principal,
        version_id,
        filename=filename,
        media_type=media_type[:255],
        content=content,
        max_bytes=settings.max_attachment_bytes,
    )
    await session.refresh(attachment)
    return await idempotency.respond(
        201, attachment_read(attachment), headers={"Location": f"/v1/contract-attachments/{attachment.id}"}
    )


@router.get("/contract-attachments/{attachment_id}", response_model=AttachmentRead, responses=READ_PROBLEMS)
async def get_attachment(
    attachment_id: UUID, session: DbSession, principal: ContractReader
) -> AttachmentRead:
    return attachment_read(await service.get_attachment(session, principal, attachment_id))


@router.get(
    "/contract-attachments/{attachment_id}/content",
    responses={**READ_PROBLEMS, 200: {"content": {"*/*": {}}, "description": "The file, byte for byte"}},
    summary="Download an attachment, with its SHA-256 in `Repr-Digest`",
)
async def get_attachment_content(
    attachment_id: UUID, session: DbSession, principal: ContractReader
) -> Response:
    attachment = await service.get_attachment(session, principal, attachment_id, with_content=True)
    digest = base64.b64encode(bytes.fromhex(attachment.sha256)).decode()
    # Served bytes are checked against the stored digest: a corrupted row fails loudly, never silently.
    if hashlib.sha256(attachment.content).hexdigest() != attachment.sha256:
        raise RuntimeError(f"attachment {attachment.id} does not match its SHA-256")
    return Response(
        attachment.content,
        media_type=attachment.media_type,
        headers={
            "ETag": f'"{attachment.sha256}"',
            "Repr-Digest": f"sha-256=:{digest}:",
            "Cache-Control": IMMUTABLE,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
