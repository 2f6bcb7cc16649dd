"""The rules for partnerships, memberships and membership grants (who may do what: `access.py`).
Functions flush, never commit."""

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
    ConsentRequired,
    MembershipExists,
    MembershipNotFound,
    NotPartnershipManager,
    OperatorOnly,
    OrganisationNotFound,
    OwnMembership,
    PartnershipClosed,
    PartnershipNotFound,
)
from services.identity.models import Membership, Organisation, Partnership
from services.identity.partnerships import access, schemas
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
    expected_version: int,
) -> Partnership:
    row = await get_partnership(session, principal, partnership_id)
    # Closing ends every member's work under the partnership; renaming changes what contracts refer to.
    require_operator(principal)
    await session.refresh(row, with_for_update=True)
    check_version(row.version, expected_version)
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


def payers_of(partnership_id: uuid.UUID) -> Select[uuid.UUID]:
    return select(Membership.organisation_id).where(
        Membership.partnership_id == partnership_id, Membership.role == access.MANAGING_ROLE
    )


async def require_partnership_manager(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID
) -> None:
    if principal.is_operator:
        return
    payer = await session.scalar(
        payers_of(partnership_id).where(Membership.organisation_id == principal.organisation_id)
    )
    if payer is None:
        raise NotPartnershipManager()


def refuse_own_membership(principal: Principal, organisation_id: uuid.UUID) -> None:
    """Nobody grants their own organisation a role, the operator's included."""
    if organisation_id == principal.organisation_id:
        raise OwnMembership(
            "another party grants your organisation a role: the operator or the outcome payers"
        )


async def check_grantable(
    session: AsyncSession, partnership: Partnership, organisation_id: uuid.UUID
) -> None:
    if partnership.status == "closed":
        raise PartnershipClosed()
    if await session.get(Organisation, organisation_id) is None:
        raise OrganisationNotFound.field("body.organisation_id", "no such organisation")


async def create_membership(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, data: schemas.MembershipCreate
) -> Membership:
    """Grant a role directly: the operator any role, an outcome payer one that reaches no person-level
    data."""
    partnership = await get_partnership(session, principal, partnership_id)
    refuse_own_membership(principal, data.organisation_id)
    await require_partnership_manager(session, principal, partnership_id)
    if not principal.is_operator and access.grant_path(data.role) is access.GrantPath.CONSENT:
        raise ConsentRequired(
            f"propose it at /v1/partnerships/{partnership_id}/membership-grants: it takes effect when "
            "every outcome payer has consented"
        )
    await check_grantable(session, partnership, data.organisation_id)
    return await add_membership(session, principal, partnership_id, data.organisation_id, data.role)


async def add_membership(
    session: AsyncSession,
    principal: Principal,
    partnership_id: uuid.UUID,
    organisation_id: uuid.UUID,
    role: str,
) -> Membership:
    row = Membership(partnership_id=partnership_id, organisation_id=organisation_id, role=role)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise MembershipExists() from exc
    await session.refresh(row)
    await record(
        session, principal, "membership.created", row, organisation_id=organisation_id, after=snapshot(row)
    )
    return row


async def delete_membership(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, membership_id: uuid.UUID
) -> None:
    """The operator removes any membership; an organisation may leave, except as an outcome payer."""
    row = await session.scalar(
        readable_memberships(principal)
        .where(Membership.id == membership_id, Membership.partnership_id == partnership_id)
        .with_for_update()
    )
    if row is None:
        raise MembershipNotFound(f"no membership {membership_id}")
    if not principal.is_operator:
        if row.organisation_id != principal.organisation_id:
            raise OperatorOnly("only the operator removes another organisation's membership")
        if row.role not in access.LEAVABLE_ROLES:
            raise OperatorOnly("an outcome payer leaves a partnership through the operator")
    before = snapshot(row)
    await session.delete(row)
    await session.flush()
    # The organisation's tokens still list this membership: end them. (Adding one needs no such step: a
    # token without a new membership only sees less.)
    await supersede_tokens(session, "organisation", row.organisation_id)
    await record(
        session, principal, "membership.deleted", row, organisation_id=row.organisation_id, before=before
    )
