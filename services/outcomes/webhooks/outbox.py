"""What every ledger append does besides the chain: it writes the webhook outbox rows and a NOTIFY, both
in the appending transaction, so a delivery exists exactly when its event does and long-polling feed
readers wake only for committed events (PostgreSQL delivers NOTIFY at commit, never on rollback)."""

from __future__ import annotations

from sqlalchemy import any_, func, insert, literal, or_, select
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
