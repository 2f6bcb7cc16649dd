"""Token epochs and the revocation list. Functions flush, never commit.

Why epochs rather than "issued before" times: a token's claims and its epochs are read in one
transaction's statements, each epoch before what it guards, so a token that saw any part of a change
also carries the epoch the change left behind, or an older one that the change supersedes. No clock
(identity's replicas', the database's, `iat`'s whole seconds) decides which side of a change a token is on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from services.identity.models import (
    Membership,
    OAuthClient,
    Organisation,
    RevokedFamily,
    RevokedToken,
    SupersededTokens,
    User,
)

Kind = Literal["organisation", "user", "client"]
# A verifier accepts a token up to 30 s past `exp` (leeway); the rest is room for skewed clocks. A
# revocation stays listed this long after the token it ends would have expired.
KEEP_PAST_EXPIRY = timedelta(seconds=120)
# Organisations' floors stay listed far longer than any token lives: webhook subscriptions outlive tokens
# and are settled from the list (services/outcomes/webhooks/revocations.py), so a change must still be on
# it when an outcome replica next reads it, even after a long outage. Organisations are few.
ORGANISATION_FLOOR_KEPT = timedelta(days=30)
# The epoch a vanished subject is taken to be at: every token it held is superseded.
_GONE = 2**31 - 1


def _epoch_of(kind: Kind, subject: str | uuid.UUID) -> Any:
    if kind == "organisation":
        return select(Organisation.token_epoch).where(Organisation.id == subject)
    if kind == "user":
        return select(User.token_epoch).where(User.id == subject)
    return select(OAuthClient.token_epoch).where(OAuthClient.client_id == str(subject))


def _bump(kind: Kind, subject: str | uuid.UUID) -> Any:
    if kind == "organisation":
        return (
            update(Organisation)
            .where(Organisation.id == subject)
            .values(token_epoch=Organisation.token_epoch + 1)
            .returning(Organisation.token_epoch)
        )
    if kind == "user":
        return (
            update(User)
            .where(User.id == subject)
            .values(token_epoch=User.token_epoch + 1)
            .returning(User.token_epoch)
        )
    return (
        update(OAuthClient)
        .where(OAuthClient.client_id == str(subject))
        .values(token_epoch=OAuthClient.token_epoch + 1)
        .returning(OAuthClient.token_epoch)
    )


async def supersede_tokens(session: AsyncSession, kind: Kind, subject: str | uuid.UUID) -> int:
    """Void every token `subject` holds now, in the caller's transaction: bump its epoch (which also locks
    its row until commit, so concurrent changes queue) and publish the new floor. Returns the new epoch."""
    epoch = await session.scalar(_bump(kind, subject).execution_options(synchronize_session="fetch"))
    if epoch is None:
        raise LookupError(f"no {kind} {subject}")
    # Read after the bump, which waits for any concurrent change to the organisation to commit: the
    # memberships published with an epoch are those its tokens are issued under.
    memberships = await _memberships_of(session, subject) if kind == "organisation" else None
    now = func.now()
    await session.execute(
        insert(SupersededTokens)
        .values(kind=kind, subject=str(subject), epoch=epoch, superseded_at=now, memberships=memberships)
        .on_conflict_do_update(
            index_elements=[SupersededTokens.kind, SupersededTokens.subject],
            set_={"epoch": epoch, "superseded_at": now, "memberships": memberships},
        )
    )
    return int(epoch)


async def _memberships_of(session: AsyncSession, organisation_id: str | uuid.UUID) -> list[dict[str, str]]:
    rows = await session.execute(
        select(Membership.partnership_id, Membership.role)
        .where(Membership.organisation_id == organisation_id)
        .order_by(Membership.partnership_id, Membership.role)
    )
    return [{"partnership_id": str(p), "role": r} for p, r in rows]


def still_listed(now: datetime, token_lifetime: timedelta) -> ColumnElement[bool]:
    """Which superseded floors the list still carries (and housekeeping keeps)."""
    organisations_since = now - max(ORGANISATION_FLOOR_KEPT, token_lifetime + KEEP_PAST_EXPIRY)
    return or_(
        SupersededTokens.superseded_at > now - token_lifetime - KEEP_PAST_EXPIRY,
        and_(SupersededTokens.kind == "organisation", SupersededTokens.superseded_at > organisations_since),
    )


def token_standing(
    *,
    token_id: str | None,
    session_id: str | None,
    organisation_id: uuid.UUID,
    client_id: str | None,
    user_id: uuid.UUID | None,
    epochs: Mapping[str, int],
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(revoked, superseded) for a token's claims, as two SQL booleans to select in one round trip. Revoked:
    the token itself, or its sign-in (`sid`)."""
    revoked: ColumnElement[bool] = exists().where(RevokedToken.jti == (token_id or ""))
    family = _family_of(session_id)
    if family is not None:
        revoked = or_(revoked, exists().where(RevokedFamily.family_id == family))
    subjects: list[tuple[Kind, str | uuid.UUID]] = [("organisation", organisation_id)]
    if client_id is not None:
        subjects.append(("client", client_id))
    if user_id is not None:
        subjects.append(("user", user_id))
    superseded = or_(
        *(
            func.coalesce(_epoch_of(kind, subject).scalar_subquery(), literal(_GONE))
            > literal(epochs.get(kind, 0))
            for kind, subject in subjects
        )
    )
    return revoked, superseded


def _family_of(session_id: str | None) -> uuid.UUID | None:
    """The refresh-token family a `sid` names; identity signs every `sid`, so a malformed one is none."""
    if session_id is None:
        return None
    try:
        return uuid.UUID(session_id)
    except ValueError:
        return None


def standing_of(principal: Principal) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return token_standing(
        token_id=principal.token_id,
        session_id=principal.session_id,
        organisation_id=principal.organisation_id,
        client_id=principal.client_id,
        user_id=principal.user_id,
        epochs=principal.epochs,
    )


async def revocation_list(session: AsyncSession, *, token_lifetime: timedelta) -> dict[str, Any]:
    """Every revocation a verifier may still meet a token for: revoked ids until their token has expired,
    ended sign-ins and superseded epochs until every token issued before them has. Sorted, so equal lists
    are equal bytes (the ETag is their hash)."""
    now = datetime.now(UTC)
    revoked = await session.scalars(
        select(RevokedToken.jti)
        .where(RevokedToken.expires_at > now - KEEP_PAST_EXPIRY)
        .order_by(RevokedToken.jti)
    )
    sessions = await session.scalars(
        select(RevokedFamily.family_id)
        .where(RevokedFamily.revoked_at > now - token_lifetime - KEEP_PAST_EXPIRY)
        .order_by(RevokedFamily.family_id)
    )
    superseded = await session.execute(
        select(
            SupersededTokens.kind,
            SupersededTokens.subject,
            SupersededTokens.epoch,
            SupersededTokens.memberships,
        )
        .where(still_listed(now, token_lifetime))
        .order_by(SupersededTokens.kind, SupersededTokens.subject)
    )
    return {
        "revoked": list(revoked),
        "sessions": [str(family) for family in sessions],
        "superseded": [
            {"kind": k, "id": s, "epoch": e} | ({"memberships": m} if m is not None else {})
            for k, s, e, m in superseded
        ],
    }
