"""Attachments: a draft's files, kept with their SHA-256; frozen with the draft when it is proposed."""

from __future__ import annotations

import hashlib
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from kit.auth import Principal
from services.contracts.errors import AttachmentNotFound, AttachmentTooLarge, VersionNotEditable
from services.contracts.models import Attachment, ContractVersion
from services.contracts.service import lock_version, now, readable_versions, require_editor


async def add_attachment(
    session: AsyncSession,
    principal: Principal,
    version_id: UUID,
    *,
    filename: str,
    media_type: str,
    content: bytes,
    max_bytes: int,
) -> Attachment:
    """Attach a file to a draft; it is frozen with the draft when the draft is proposed."""
    contract, version = await lock_version(session, principal, version_id)
    require_editor(principal, contract.partnership_id)
    if version.status != "draft":
        raise VersionNotEditable("files can be attached to drafts only")
    if len(content) > max_bytes:
        raise AttachmentTooLarge(f"at most {max_bytes} bytes", max_bytes=max_bytes)
    attachment = Attachment(
        version_id=version.id,
        filename=filename,
        media_type=media_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        uploaded_by=principal.subject,
        uploaded_by_organisation_id=principal.organisation_id,
    )
    session.add(attachment)
    version.updated_at = now()
    await session.flush()
    return attachment


async def get_attachment(
    session: AsyncSession, principal: Principal, attachment_id: UUID, *, with_content: bool = False
) -> Attachment:
    readable = readable_versions(principal).with_only_columns(ContractVersion.id)
    query = select(Attachment).where(Attachment.id == attachment_id, Attachment.version_id.in_(readable))
    if with_content:
        query = query.options(undefer(Attachment.content))
    attachment = await session.scalar(query)
    if attachment is None:
        raise AttachmentNotFound(f"no attachment {attachment_id} that you can read")
    return attachment
