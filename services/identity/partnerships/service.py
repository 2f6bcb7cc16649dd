"""The rules for partnerships and memberships. Functions flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.pagination import DEFAULT_LIMIT, Page
from kit.versions import check_version
from services.identity.audit import record, snapshot
from services.identity.directory.service import paginate, partnerships_of, require_operator
from services.identity.errors import (
    MembershipExists,
    MembershipNotFound,
    NotPartnershipManager,
    OrganisationNotFound,
    PartnershipClosed,
    PartnershipNotFound,
)
from services.identity.models import Membership, Organisation, Partnership
from services.identity.partnerships import schemas
from services.identity.revocations.service import supersede_tokens


def readable_partnerships(principal: Principal) -> Select[Partnership]:
    """Operators see every partnership; an organisation those it is a member of."""
    query = select(Partnership)
    if principal.is_operator:
        return query
    return query.where(Partnership.id.in_(partnerships_of(principal)))


async def list_partnerships(
    session: AsyncSession,
    principal: Principal,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    organisation_id: uuid.UUID | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Partnership]:
    query = readable_partnerships(principal)
    if ids is not None:
        query = query.where(Partnership.id.in_(ids))
    if organisation_id is not None:
        members = select(Membership.partnership_id).where(Membership.organisation_id == organisation_id)
        query = query.where(Partnership.id.in_(members))
    if status is not None:
        query = query.where(Partnership.status == status)
    return await paginate(session, query, Partnership, cursor=cursor, limit=limit)


async def get_partnership(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID
) -> Partnership:
    row = await session.scalar(readable_partnerships(principal).where(Partnership.id == partnership_id))
    if row is None:
        raise PartnershipNotFound(f"no partnership {partnership_id}")
    return row


async def create_partnership(
    session: AsyncSession, principal: Principal, data: schemas.PartnershipCreate
) -> Partnership:
    require_operator(principal)
    row = Partnership(name=data.name, description=data.description)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, principal, "partnership.created", row, organisation_id=None, after=snapshot(row))
    return row


async def update_partnership(
    session: AsyncSession,
    principal: Principal,
    partnership_id: uuid.UUID,
    data: schemas.PartnershipUpdate,
    *,
    if_match: int,
) -> Partnership:
    row = await get_partnership(session, principal, partnership_id)
    await _require_partnership_manager(session, principal, partnership_id)
    await session.refresh(row, with_for_update=True)
    check_version(row.version, if_match)
    before = snapshot(row)
    for field in ("name", "description", "status"):
        value = getattr(data, field)
        if value is not None:
            setattr(row, field, value)
    row.version += 1
    await session.flush()
    await record(
        session,
        principal,
        "partnership.updated",
        row,
        organisation_id=None,
        before=before,
        after=snapshot(row),
    )
    return row


def readable_memberships(principal: Principal) -> Select[Membership]:
    """Operators see every membership; an organisation those of the partnerships it belongs to."""
    query = select(Membership)
    if principal.is_operator:
        return query
    return query.where(Membership.partnership_id.in_(partnerships_of(principal)))


async def list_memberships(
    session: AsyncSession,
    principal: Principal,
    *,
    partnership_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Membership]:
    query = readable_memberships(principal)
    if partnership_id is not None:
        query = query.where(Membership.partnership_id == partnership_id)
    if organisation_id is not None:
        query = query.where(Membership.organisation_id == organisation_id)
    return await paginate(session, query, Membership, cursor=cursor, limit=limit)


async def _require_partnership_manager(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID
) -> None:
    if principal.is_operator:
        return
    payer = await session.scalar(
        select(Membership.id).where(
            Membership.partnership_id == partnership_id,
            Membership.organisation_id == principal.organisation_id,
            Membership.role == "outcome_payer",
        )
    )
    if payer is None:
        raise NotPartnershipManager()


async def create_membership(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, data: schemas.MembershipCreate
) -> Membership:
    partnership = await get_partnership(session, principal, partnership_id)
    await _require_partnership_manager(session, principal, partnership_id)
    if partnership.status == "closed":
        raise PartnershipClosed()
    if await session.get(Organisation, data.organisation_id) is None:
        raise OrganisationNotFound.field("body.organisation_id", "no such organisation")
    row = Membership(partnership_id=partnership_id, organisation_id=data.organisation_id, role=data.role)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise MembershipExists() from exc
    await session.refresh(row)
    await record(
        session,
        principal,
        "membership.created",
        row,
        organisation_id=data.organisation_id,
        after=snapshot(row),
    )
    return row


async def delete_membership(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, membership_id: uuid.UUID
) -> None:
    row = await session.scalar(
        readable_memberships(principal)
        .where(Membership.id == membership_id, Membership.partnership_id == partnership_id)
        .with_for_update()
    )
    if row is None:
        raise MembershipNotFound(f"no membership {membership_id}")
    await _require_partnership_manager(session, principal, partnership_id)
    before = snapshot(row)
    await session.delete(row)
    await session.flush()
    # The organisation's tokens still list this membership: end them. (Adding one needs no such step: a
    # token without a new membership only sees less.)
    await supersede_tokens(session, "organisation", row.organisation_id)
    await record(
        session, principal, "membership.deleted", row, organisation_id=row.organisation_id, before=before
    )
