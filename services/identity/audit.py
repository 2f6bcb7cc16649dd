"""The audit log: every change the identity service makes, who made it, and the row before and after.

Written in the same transaction as the change it records, so neither exists without the other.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from services.identity.models import AuditEvent

# Never copied into the log.
_SECRET_FIELDS = frozenset({"password_hash", "secret_hash", "private_key_encrypted"})


def snapshot(row: Any) -> dict[str, Any]:
    """A row's columns as JSON, without secrets."""
    columns = row.__table__.columns
    encoded: dict[str, Any] = jsonable_encoder(
        {c.key: getattr(row, c.key) for c in columns if c.key not in _SECRET_FIELDS}
    )
    return encoded


async def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    entity: Any,
    *,
    organisation_id: uuid.UUID | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    entity_id: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_subject=principal.subject if principal else "system",
            actor_kind=principal.kind if principal else "system",
            actor_organisation_id=principal.organisation_id if principal else None,
            organisation_id=organisation_id,
            action=action,
            entity_type=entity.__tablename__,
            entity_id=entity_id or str(entity.id),
            before=before,
            after=after,
        )
    )
    await session.flush()


def readable_audit_events(principal: Principal) -> Select[AuditEvent]:
    """Operators read everything; an organisation's admins read what concerns their organisation."""
    query = select(AuditEvent)
    if principal.is_operator:
        return query
    if principal.kind == "user" and principal.org_role == "admin":
        return query.where(AuditEvent.organisation_id == principal.organisation_id)
    return query.where(false())
