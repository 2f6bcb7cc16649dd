"""What every ledger append does besides the chain: it writes the webhook outbox rows and a NOTIFY, both
in the appending transaction, so a delivery exists exactly when its event does and long-polling feed
readers wake only for committed events (PostgreSQL delivers NOTIFY at commit, never on rollback)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import any_, func, insert, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.outcomes.models import LedgerEvent
from services.outcomes.webhooks.models import WebhookDelivery, WebhookSubscription

CHANNEL = "effekt_ledger"


async def record_appended(session: AsyncSession, event: LedgerEvent) -> None:
    """One outbox row per active subscription that wants this event, then NOTIFY the feed's listeners."""
    wanted = select(
        WebhookSubscription.id,
        literal(event.id),
        literal(event.sequence),
        literal(event.type),
    ).where(
        WebhookSubscription.partnership_id == event.partnership_id,
        WebhookSubscription.status == "active",
        or_(
            func.cardinality(WebhookSubscription.event_types) == 0,
            literal(event.type) == any_(WebhookSubscription.event_types),
        ),
    )
    await session.execute(
        insert(WebhookDelivery).from_select(["subscription_id", "event_id", "sequence", "event_type"], wanted)
    )
    await session.execute(select(func.pg_notify(CHANNEL, str(event.partnership_id))))


_OUTBOX_MANY = text(
    """
    INSERT INTO webhook_deliveries (subscription_id, event_id, sequence, event_type)
    SELECT s.id, e.id, e.sequence, e.type
    FROM webhook_subscriptions AS s
    CROSS JOIN unnest(CAST(:ids AS uuid[]), CAST(:sequences AS bigint[]), CAST(:types AS text[]))
        AS e(id, sequence, type)
    WHERE s.partnership_id = :partnership_id AND s.status = 'active'
      AND (cardinality(s.event_types) = 0 OR e.type = ANY(s.event_types))
    """
)


async def record_appended_many(
    session: AsyncSession, partnership_id: UUID, events: Sequence[LedgerEvent]
) -> None:
    """`record_appended` for a batch of one partnership's events: one INSERT and one NOTIFY."""
    await session.execute(
        _OUTBOX_MANY,
        {
            "partnership_id": partnership_id,
            "ids": [e.id for e in events],
            "sequences": [e.sequence for e in events],
            "types": [e.type for e in events],
        },
    )
    await session.execute(select(func.pg_notify(CHANNEL, str(partnership_id))))
