"""Webhook subscriptions hold only while the memberships they were confirmed under do.

A subscription records the organisation token epoch of the token that created it (or last re-enabled or
edited it), and the audience its role in the partnership gave it. Identity bumps an organisation's epoch
whenever one of its partnership memberships is removed or its role changes, and lists the new floor, with
the organisation's memberships right after the change, for 30 days (kit/revocations.py).

A subscription recorded under an older epoch is then *settled* against those memberships: if its
organisation still has the role in its partnership that gave it its audience, it is re-confirmed (its
epoch raised to the floor) and carries on; otherwise it is disabled with a reason naming what changed.
Nothing pending is lost, and re-enabling with a current token confirms the membership again (or is
refused). A list without memberships (an identity older than this) disables every such subscription
with `DISABLED_REASON`, as nothing then says which partnership changed.

Acted on when the list changes, not lazily at delivery: the dispatcher applies each new version of the
list (`settle_superseded`) and checks each claimed delivery against it again (`is_superseded`). A change
is missed only when no dispatcher of the outcome service fetches the list while the change is on it:
every replica down, or identity unreachable from all of them, for 30 days.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Integer, Uuid, column, select, values
from sqlalchemy.ext.asyncio import AsyncSession

from kit.revocations import Revocations
from services.outcomes.access import audience_of
from services.outcomes.webhooks.models import WebhookSubscription

DISABLED_REASON = (
    "the organisation's partnership memberships changed; re-enable it with a current token to confirm"
)


@dataclass(frozen=True)
class Floor:
    """An organisation's lowest valid token epoch, and its memberships at it when identity listed them."""

    epoch: int
    memberships: frozenset[tuple[str, str]] | None


def organisation_floors(revocations: Revocations) -> dict[UUID, Floor]:
    return {
        UUID(subject): Floor(epoch, revocations.memberships.get(subject))
        for (kind, subject), epoch in revocations.superseded.items()
        if kind == "organisation"
    }


def is_superseded(floors: Mapping[UUID, Floor], organisation_id: UUID, token_epoch: int) -> bool:
    floor = floors.get(organisation_id)
    return floor is not None and token_epoch < floor.epoch


def disabled_reason(
    partnership_id: UUID, audience: str, memberships: Set[tuple[str, str]] | None
) -> str | None:
    """Why a subscription with this partnership and audience no longer holds under `memberships`, or None
    when its organisation's role there still gives it the same audience."""
    if memberships is None:
        return DISABLED_REASON
    roles = {role for partnership, role in memberships if partnership == str(partnership_id)}
    now = audience_of(roles)
    if now is None:
        return "the organisation is no longer a partner in this partnership"
    if now != audience:
        return (
            f"the organisation's role in this partnership changed (it would now receive events as {now}, "
            f"not {audience}); re-enable it with a current token to confirm"
        )
    return None


async def settle_superseded(session: AsyncSession, floors: Mapping[UUID, Floor]) -> list[UUID]:
    """Re-confirm or disable every active subscription recorded under an epoch the list has superseded;
    the ids of those disabled. Only those rows are read and locked (the list keeps organisations' floors
    for 30 days, long after most subscriptions were settled), so replicas settling the same list agree."""
    if not floors:
        return []
    listed = values(column("organisation_id", Uuid), column("floor", Integer), name="listed").data(
        [(organisation, floor.epoch) for organisation, floor in floors.items()]
    )
    stale = await session.scalars(
        select(WebhookSubscription)
        .join(
            listed,
            (WebhookSubscription.organisation_id == listed.c.organisation_id)
            & (WebhookSubscription.token_epoch < listed.c.floor),
        )
        .where(WebhookSubscription.status == "active")
        .order_by(WebhookSubscription.id)
        .with_for_update(of=WebhookSubscription)
    )
    disabled: list[UUID] = []
    now = datetime.now(UTC)
    for subscription in stale:
        floor = floors[subscription.organisation_id]
        subscription.token_epoch = floor.epoch
        subscription.version += 1
        reason = disabled_reason(subscription.partnership_id, subscription.audience, floor.memberships)
        if reason is not None:
            subscription.status, subscription.disabled_reason, subscription.disabled_at = (
                "disabled",
                reason,
                now,
            )
            disabled.append(subscription.id)
    await session.flush()
    return disabled
