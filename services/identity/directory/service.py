"""The directory's rules: who may create and change organisations, users, partnerships, memberships and
OAuth2 clients, and what each caller may read. Functions flush, never commit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.pagination import DEFAULT_LIMIT, Page, decode_cursor, encode_cursor
from kit.problems import BadRequest, InvalidParam, Unprocessable
from kit.versions import check_version
from services.identity.audit import readable_audit_events, record, snapshot
from services.identity.credentials import Passwords, password_problems
from services.identity.directory import schemas
from services.identity.directory.identifiers import (
    BadIdentifier,
    cvr_identifier,
    cvr_of,
    parse_identifier,
    valid_cvr,
)
from services.identity.errors import (
    EmailTaken,
    InvalidCvr,
    InvalidIdentifier,
    NotOrganisationAdmin,
    OperatorOnly,
    OrganisationNotFound,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from services.identity.models import (
    AuditEvent,
    Membership,
    Organisation,
    RefreshToken,
    User,
)
from services.identity.oauth.login import clear_account_lock
from services.identity.revocations.service import supersede_tokens


def require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise OperatorOnly()


def require_admin_of(principal: Principal, organisation_id: uuid.UUID) -> None:
    """Operators, and the organisation's own admin users, manage its users and clients."""
    if principal.is_operator:
        return
    if principal.organisation_id != organisation_id:
        # Another organisation's people and clients are not even visible.
        raise OrganisationNotFound(f"no organisation {organisation_id}")
    if principal.kind != "user" or principal.org_role != "admin":
        raise NotOrganisationAdmin()


async def paginate(
    session: AsyncSession, query: Select[Any], model: type[Any], *, cursor: str | None, limit: int
) -> Page[Any]:
    """A page in creation order, keyed on (created_at, id)."""
    created = model.at if model is AuditEvent else model.created_at
    ident = model.id
    if cursor:
        at, last = decode_cursor(cursor, 2)
        try:
            key = (datetime.fromisoformat(at), uuid.UUID(last))
        except ValueError as exc:
            raise BadRequest.field("cursor", "not a cursor this API issued") from exc
        query = query.where((created > key[0]) | ((created == key[0]) & (ident > key[1])))
    rows = list(await session.scalars(query.order_by(created, ident).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], created.key).isoformat(), rows[-1].id) if more else None
    return Page[Any](items=rows, next_cursor=next_cursor)


# --- organisations ----------------------------------------------------------------------------------------


def partnerships_of(principal: Principal) -> Any:
    """The ids of the partnerships the caller's organisation belongs to (a subquery)."""
    return select(Membership.partnership_id).where(Membership.organisation_id == principal.organisation_id)


def readable_organisations(principal: Principal) -> Select[Organisation]:
    """Operators see every organisation; others their own and their partners' (a shared partnership)."""
    query = select(Organisation)
    if principal.is_operator:
        return query
    partners = select(Membership.organisation_id).where(
        Membership.partnership_id.in_(partnerships_of(principal))
    )
    return query.where((Organisation.id == principal.organisation_id) | Organisation.id.in_(partners))


async def list_organisations(
    session: AsyncSession,
    principal: Principal,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    partner_type: str | None = None,
    partnership_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Organisation]:
    query = readable_organisations(principal)
    if ids is not None:
        query = query.where(Organisation.id.in_(ids))
    if partner_type is not None:
        query = query.where(Organisation.partner_type == partner_type)
    if partnership_id is not None:
        members = select(Membership.organisation_id).where(Membership.partnership_id == partnership_id)
        query = query.where(Organisation.id.in_(members))
    return await paginate(session, query, Organisation, cursor=cursor, limit=limit)


async def get_organisation(
    session: AsyncSession, principal: Principal, organisation_id: uuid.UUID
) -> Organisation:
    row = await session.scalar(readable_organisations(principal).where(Organisation.id == organisation_id))
    if row is None:
        raise OrganisationNotFound(f"no organisation {organisation_id}")
    return row


def _identifier_of(data: schemas.OrganisationCreate) -> str:
    """The organisation's identifier: given, or `DK-CVR-<cvr>` for a CVR (the API before identifiers)."""
    if data.cvr is not None and not valid_cvr(data.cvr):
        raise InvalidCvr.field("body.cvr", "must be 8 digits passing the modulus-11 check")
    if data.identifier is None:
        if data.cvr is None:
            raise InvalidIdentifier.field(
                "body.identifier", "give the organisation's identifier (or its CVR)"
            )
        return cvr_identifier(data.cvr)
    try:
        identifier = parse_identifier(data.identifier)
    except BadIdentifier as exc:
        raise InvalidIdentifier.field("body.identifier", str(exc)) from exc
    if data.cvr is not None and identifier != cvr_identifier(data.cvr):
        raise InvalidIdentifier.field(
            "body.identifier", f"is not {cvr_identifier(data.cvr)}, the given CVR's"
        )
    return identifier


async def create_organisation(
    session: AsyncSession, principal: Principal, data: schemas.OrganisationCreate
) -> Organisation:
    require_operator(principal)
    identifier = _identifier_of(data)
    is_municipality = data.partner_type == "municipality"
    if is_municipality and data.municipality_code is None:
        raise Unprocessable.field("body.municipality_code", "required for a municipality")
    if not is_municipality and data.municipality_code is not None:
        raise Unprocessable.field("body.municipality_code", "only municipalities have one")
    if data.municipality_code is not None and not re.fullmatch(r"[0-9]{3}", data.municipality_code):
        raise Unprocessable.field("body.municipality_code", "must be 3 digits")
    row = Organisation(
        name=data.name,
        partner_type=data.partner_type,
        identifier=identifier,
        cvr=cvr_of(identifier),
        municipality_code=data.municipality_code,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, principal, "organisation.created", row, organisation_id=row.id, after=snapshot(row))
    return row


async def update_organisation(
    session: AsyncSession,
    principal: Principal,
    organisation_id: uuid.UUID,
    data: schemas.OrganisationUpdate,
    *,
    expected_version: int,
) -> Organisation:
    require_admin_of(principal, organisation_id)
    row = await session.get(Organisation, organisation_id, with_for_update=True)
    if row is None:
        raise OrganisationNotFound(f"no organisation {organisation_id}")
    check_version(row.version, expected_version)
    before = snapshot(row)
    row.name = data.name
    row.version += 1
    await session.flush()
    await record(
        session,
        principal,
        "organisation.updated",
        row,
        organisation_id=row.id,
        before=before,
        after=snapshot(row),
    )
    return row


# --- users ------------------------------------------------------------------------------------------------


def readable_users(principal: Principal) -> Select[User]:
    """Operators see every user; everyone else the users of their own organisation."""
    query = select(User)
    if principal.is_operator:
        return query
    return query.where(User.organisation_id == principal.organisation_id)


async def list_users(
    session: AsyncSession,
    principal: Principal,
    *,
    organisation_id: uuid.UUID | None = None,
    ids: Sequence[uuid.UUID] | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[User]:
    query = readable_users(principal)
    if organisation_id is not None:
        query = query.where(User.organisation_id == organisation_id)
    if ids is not None:
        query = query.where(User.id.in_(ids))
    return await paginate(session, query, User, cursor=cursor, limit=limit)


async def get_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    row = await session.scalar(readable_users(principal).where(User.id == user_id))
    if row is None:
        raise UserNotFound(f"no user {user_id}")
    return row


async def create_user(
    session: AsyncSession,
    principal: Principal,
    organisation_id: uuid.UUID,
    data: schemas.UserCreate,
    *,
    passwords: Passwords,
) -> User:
    require_admin_of(principal, organisation_id)
    if await session.get(Organisation, organisation_id) is None:
        raise OrganisationNotFound(f"no organisation {organisation_id}")
    _check_password(data.password, email=data.email, display_name=data.display_name, field="body.password")
    email = str(data.email)
    if await session.scalar(
        select(User.id).where(
            User.email.ilike(email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
        )
    ):
        raise EmailTaken.field("body.email", "already registered")
    row = User(
        organisation_id=organisation_id,
        email=email,
        display_name=data.display_name,
        org_role=data.org_role,
        password_hash=await passwords.hash(data.password),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same address
        raise EmailTaken.field("body.email", "already registered") from exc
    await session.refresh(row)
    await record(
        session, principal, "user.created", row, organisation_id=organisation_id, after=snapshot(row)
    )
    return row


async def update_user(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    data: schemas.UserUpdate,
    *,
    expected_version: int,
) -> User:
    row = await get_user(session, principal, user_id)
    require_admin_of(principal, row.organisation_id)
    await session.refresh(row, with_for_update=True)
    check_version(row.version, expected_version)
    before = snapshot(row)
    if data.display_name is not None:
        row.display_name = data.display_name
    role_changed = data.org_role is not None and data.org_role != row.org_role
    if data.org_role is not None:
        row.org_role = data.org_role
    row.version += 1
    await session.flush()
    if role_changed:
        # Tokens carry `org_role`; an admin demoted must not keep admin tokens.
        await supersede_tokens(session, "user", row.id)
    await record(
        session,
        principal,
        "user.updated",
        row,
        organisation_id=row.organisation_id,
        before=before,
        after=snapshot(row),
    )
    return row


async def disable_user(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    """Disable a user: no sign-in, refresh or code redemption from now, and every token it holds is
    refused everywhere within seconds. Idempotent."""
    row = await get_user(session, principal, user_id)
    require_admin_of(principal, row.organisation_id)
    await session.refresh(row, with_for_update=True)
    if row.disabled_at is not None:
        return row
    before = snapshot(row)
    row.disabled_at = datetime.now(UTC)
    row.version += 1
    await _end_every_token(session, row, at=row.disabled_at)
    await record(
        session,
        principal,
        "user.disabled",
        row,
        organisation_id=row.organisation_id,
        before=before,
        after=snapshot(row),
    )
    return row


async def change_password(
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    data: schemas.PasswordChange,
    *,
    passwords: Passwords,
    hash_key: bytes,
) -> None:
    row = await get_user(session, principal, user_id)
    await session.refresh(row, with_for_update=True)
    if principal.user_id == user_id:
        if data.current_password is None or not await passwords.verify(
            row.password_hash, data.current_password
        ):
            raise WrongPassword.field("body.current_password", "does not match")
    else:
        require_admin_of(principal, row.organisation_id)
    _check_password(
        data.new_password, email=row.email, display_name=row.display_name, field="body.new_password"
    )
    row.password_hash = await passwords.hash(data.new_password)
    await clear_account_lock(session, hash_key, row.email)
    row.version += 1
    # Whoever held the old password may hold its tokens (the caller's own included: it signs in again).
    await _end_every_token(session, row, at=datetime.now(UTC))
    await record(
        session,
        principal,
        "user.password_changed",
        row,
        organisation_id=row.organisation_id,
        entity_id=str(row.id),
    )


async def _end_every_token(session: AsyncSession, user: User, *, at: datetime) -> None:
    """End every grant (refresh tokens) and every access token the user holds, in the caller's
    transaction: identity refuses them at once, the other services within a revocation poll."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    await session.flush()
    await supersede_tokens(session, "user", user.id)


def _check_password(password: str, *, email: str, display_name: str, field: str) -> None:
    reasons = password_problems(password, email=email, display_name=display_name)
    if reasons:
        raise WeakPassword(
            "the password " + "; ".join(reasons),
            invalid_params=[InvalidParam(name=field, reason=reason) for reason in reasons],
        )


# --- audit ------------------------------------------------------------------------------------------------


async def list_audit_events(
    session: AsyncSession,
    principal: Principal,
    *,
    organisation_id: uuid.UUID | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[AuditEvent]:
    query = readable_audit_events(principal)
    if organisation_id is not None:
        query = query.where(AuditEvent.organisation_id == organisation_id)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return await paginate(session, query, AuditEvent, cursor=cursor, limit=limit)
