"""Membership grants: how an outcome payer gives another organisation a role that reaches person-level
data. A payer proposes (its consent), every outcome payer then in the partnership consents, and the last
consent needed makes the membership in the same transaction (`access.consents_complete`); any payer may
decline instead. The operator's proposal or consent grants at once. Every step is audited; a repeated
consent changes nothing. Functions flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.pagination import DEFAULT_LIMIT, Page
from services.identity.audit import record, snapshot
from services.identity.directory.service import paginate, partnerships_of
from services.identity.errors import (
    MembershipExists,
    MembershipGrantNotFound,
    MembershipGrantPending,
    MembershipGrantSettled,
    PartnershipClosed,
)
from services.identity.models import Membership, MembershipGrant, MembershipGrantConsent, Partnership
from services.identity.partnerships import access, schemas
from services.identity.partnerships.service import (
    add_membership,
    check_grantable,
    get_partnership,
    payers_of,
    refuse_own_membership,
    require_partnership_manager,
)


@dataclass(frozen=True, slots=True)
class GrantState:
    """A membership grant with its consents and the outcome payers it still waits for."""

    id: uuid.UUID
    partnership_id: uuid.UUID
    organisation_id: uuid.UUID
    role: str
    status: str
    proposed_by: uuid.UUID
    consents: list[uuid.UUID]
    awaiting: list[uuid.UUID]
    membership_id: uuid.UUID | None
    created_at: datetime
    settled_at: datetime | None

    @classmethod
    def of(
        cls, grant: MembershipGrant, consents: Sequence[uuid.UUID], payers: frozenset[uuid.UUID]
    ) -> GrantState:
        awaiting = sorted(payers - set(consents)) if grant.status == "pending" else []
        return cls(
            id=grant.id,
            partnership_id=grant.partnership_id,
            organisation_id=grant.organisation_id,
            role=grant.role,
            status=grant.status,
            proposed_by=grant.proposed_by,
            consents=list(consents),
            awaiting=awaiting,
            membership_id=grant.membership_id,
            created_at=grant.created_at,
            settled_at=grant.settled_at,
        )


def readable_membership_grants(principal: Principal) -> Select[MembershipGrant]:
    """Operators see every grant; an organisation those of the partnerships it belongs to (as it sees
    their memberships)."""
    query = select(MembershipGrant)
    if principal.is_operator:
        return query
    return query.where(MembershipGrant.partnership_id.in_(partnerships_of(principal)))


async def _payers(session: AsyncSession, partnership_id: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset(await session.scalars(payers_of(partnership_id)))


async def _consents(
    session: AsyncSession, grant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(MembershipGrantConsent.grant_id, MembershipGrantConsent.organisation_id)
        .where(MembershipGrantConsent.grant_id.in_(grant_ids))
        .order_by(MembershipGrantConsent.created_at, MembershipGrantConsent.organisation_id)
    )
    by_grant: dict[uuid.UUID, list[uuid.UUID]] = {grant_id: [] for grant_id in grant_ids}
    for grant_id, organisation_id in rows:
        by_grant[grant_id].append(organisation_id)
    return by_grant


async def _state(session: AsyncSession, grant: MembershipGrant) -> GrantState:
    consents = (await _consents(session, [grant.id]))[grant.id]
    return GrantState.of(grant, consents, await _payers(session, grant.partnership_id))


async def list_membership_grants(
    session: AsyncSession,
    principal: Principal,
    partnership_id: uuid.UUID,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[GrantState]:
    await get_partnership(session, principal, partnership_id)
    query = readable_membership_grants(principal).where(MembershipGrant.partnership_id == partnership_id)
    if status is not None:
        query = query.where(MembershipGrant.status == status)
    page = await paginate(session, query, MembershipGrant, cursor=cursor, limit=limit)
    consents = await _consents(session, [g.id for g in page.items])
    payers = await _payers(session, partnership_id)
    return Page[GrantState](
        items=[GrantState.of(g, consents[g.id], payers) for g in page.items], next_cursor=page.next_cursor
    )


async def _find(
    session: AsyncSession,
    principal: Principal,
    partnership_id: uuid.UUID,
    grant_id: uuid.UUID,
    *,
    lock: bool = False,
) -> tuple[Partnership, MembershipGrant]:
    partnership = await get_partnership(session, principal, partnership_id)
    query = readable_membership_grants(principal).where(
        MembershipGrant.id == grant_id, MembershipGrant.partnership_id == partnership_id
    )
    # Locked for a decision: consents to one grant are decided one at a time, so the last is seen as last.
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise MembershipGrantNotFound(f"no membership grant {grant_id}")
    return partnership, row


async def get_membership_grant(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, grant_id: uuid.UUID
) -> GrantState:
    _partnership, grant = await _find(session, principal, partnership_id, grant_id)
    return await _state(session, grant)


async def propose_membership_grant(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, data: schemas.MembershipCreate
) -> GrantState:
    """Propose a role for another organisation, with the proposer's consent; it takes effect at once
    when that is the last consent needed (a sole outcome payer's, or the operator's)."""
    partnership = await get_partnership(session, principal, partnership_id)
    refuse_own_membership(principal, data.organisation_id)
    await require_partnership_manager(session, principal, partnership_id)
    await check_grantable(session, partnership, data.organisation_id)
    if await _held(session, partnership_id, data.organisation_id, data.role) is not None:
        raise MembershipExists()
    grant = MembershipGrant(
        partnership_id=partnership_id,
        organisation_id=data.organisation_id,
        role=data.role,
        proposed_by=principal.organisation_id,
    )
    try:
        async with session.begin_nested():
            session.add(grant)
            await session.flush()
    except IntegrityError as exc:
        raise MembershipGrantPending() from exc
    await session.refresh(grant)
    await record(
        session,
        principal,
        "membership_grant.proposed",
        grant,
        organisation_id=data.organisation_id,
        after=snapshot(grant),
    )
    return await _consent(session, principal, grant)


async def consent_to_membership_grant(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, grant_id: uuid.UUID
) -> GrantState:
    """Record the caller's organisation's consent (once; a repeat changes nothing); the last consent
    needed makes the membership."""
    partnership, grant = await _find(session, principal, partnership_id, grant_id, lock=True)
    await require_partnership_manager(session, principal, partnership_id)
    if grant.status == "declined":
        raise MembershipGrantSettled("the grant was declined; propose it again")
    if grant.status == "granted":
        return await _state(session, grant)
    if partnership.status == "closed":
        raise PartnershipClosed()
    return await _consent(session, principal, grant)


async def decline_membership_grant(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID, grant_id: uuid.UUID
) -> GrantState:
    """Any outcome payer (or the operator) declines a pending grant: each of them must consent, so each
    may refuse. Declining again changes nothing."""
    _partnership, grant = await _find(session, principal, partnership_id, grant_id, lock=True)
    await require_partnership_manager(session, principal, partnership_id)
    if grant.status == "granted":
        raise MembershipGrantSettled("the grant took effect; the operator removes the membership")
    if grant.status == "pending":
        await _settle(session, principal, grant, "declined", None)
    return await _state(session, grant)


async def _held(
    session: AsyncSession, partnership_id: uuid.UUID, organisation_id: uuid.UUID, role: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(Membership.id).where(
            Membership.partnership_id == partnership_id,
            Membership.organisation_id == organisation_id,
            Membership.role == role,
        )
    )


async def _consent(session: AsyncSession, principal: Principal, grant: MembershipGrant) -> GrantState:
    added = await session.scalar(
        insert(MembershipGrantConsent)
        .values(grant_id=grant.id, organisation_id=principal.organisation_id, actor_subject=principal.subject)
        .on_conflict_do_nothing()
        .returning(MembershipGrantConsent.organisation_id)
    )
    if added is not None:
        await record(
            session,
            principal,
            "membership_grant.consented",
            grant,
            organisation_id=grant.organisation_id,
            after={"organisation_id": str(principal.organisation_id), "actor_subject": principal.subject},
        )
    consents = (await _consents(session, [grant.id]))[grant.id]
    payers = await _payers(session, grant.partnership_id)
    if principal.is_operator or access.consents_complete(payers, set(consents), grant.organisation_id):
        # The operator may have granted the same role directly meanwhile: the grant then names that one.
        membership_id = await _held(session, grant.partnership_id, grant.organisation_id, grant.role)
        if membership_id is None:
            membership = await add_membership(
                session, principal, grant.partnership_id, grant.organisation_id, grant.role
            )
            membership_id = membership.id
        await _settle(session, principal, grant, "granted", membership_id)
    return GrantState.of(grant, consents, payers)


async def _settle(
    session: AsyncSession,
    principal: Principal,
    grant: MembershipGrant,
    status: str,
    membership_id: uuid.UUID | None,
) -> None:
    before = snapshot(grant)
    grant.status = status
    grant.membership_id = membership_id
    grant.settled_at = datetime.now(UTC)
    await session.flush()
    await record(
        session,
        principal,
        f"membership_grant.{status}",
        grant,
        organisation_id=grant.organisation_id,
        before=before,
        after=snapshot(grant),
    )
