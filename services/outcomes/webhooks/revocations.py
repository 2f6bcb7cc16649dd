"""Webhook subscriptions end with the memberships they were confirmed under.

A subscription records the organisation token epoch of the token that created it (or last re-enabled or
edited it). Identity bumps an organisation's epoch whenever one of its partnership memberships is removed
or its role changes, and lists the new floor for the last ~17 minutes (kit/revocations.py). The list
names the organisation, not the partnership, so any such change disables *all* of the organisation's
active subscriptions recorded under an older epoch, with `DISABLED_REASON`; nothing pending is lost, and
re-enabling with a current token confirms the membership again (or is refused) and records its epoch.

Acted on when the list changes, not lazily at delivery: the dispatcher applies each new version of the
list in one UPDATE (`disable_superseded`) and checks each claimed delivery against it again
(`is_superseded`). Because the list holds only recent changes, a change is missed when no dispatcher of
the outcome service fetches the list while the change is on it: every replica down, or identity
unreachable from all of them, for longer than the list's window (the access-token lifetime plus two
minutes). `effekt_token_revocations_age_seconds` above that window is the alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit.revocations import Revocations

DISABLED_REASON = (
    "the organisation's partnership memberships changed; re-enable it with a current token to confirm"
)

_DISABLE = text(
    """
    UPDATE webhook_subscriptions AS s
    SET status = 'disabled', disabled_reason = :reason, disabled_at = :now, version = s.version + 1
    FROM unnest(CAST(:organisations AS uuid[]), CAST(:floors AS integer[])) AS f(organisation_id, floor)
    WHERE s.organisation_id = f.organisation_id AND s.token_epoch < f.floor AND s.status = 'active'
    RETURNING s.id
    """
)


def organisation_floors(revocations: Revocations) -> dict[UUID, int]:
    """Each listed organisation's lowest valid token epoch."""
    return {
        UUID(subject): floor
        for (kind, subject), floor in revocations.superseded.items()
        if kind == "organisation"
    }


def is_superseded(floors: Mapping[UUID, int], organisation_id: UUID, token_epoch: int) -> bool:
    floor = floors.get(organisation_id)
    return floor is not None and token_epoch < floor


async def disable_superseded(session: AsyncSession, floors: Mapping[UUID, int]) -> list[UUID]:
    """Disable every active subscription recorded under an epoch the list has superseded; their ids."""
    if not floors:
        return []
    organisations = list(floors)
    found = await session.execute(
        _DISABLE,
        {
            "reason": DISABLED_REASON,
            "now": datetime.now(UTC),
            "organisations": organisations,
            "floors": [floors[o] for o in organisations],
        },
    )
    return list(found.scalars())
