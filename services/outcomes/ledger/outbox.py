"""What every ledger append does besides the chain: it writes the webhook outbox rows and a NOTIFY, both
in the appending transaction, so a delivery exists exactly when its event does and long-polling feed
readers wake only for committed events (PostgreSQL delivers NOTIFY at commit, never on rollback)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

CHANNEL = "effekt_ledger"

# One statement, run while the partnership's head is locked: one outbox row per active subscription
# that wants each event, and the NOTIFY (a data-modifying WITH runs whether or not it is read).
_RECORD = text(
    """
    WITH deliveries AS (
        INSERT INTO webhook_deliveries (subscription_id, event_id, sequence, event_type)
        SELECT s.id, e.id, e.sequence, e.type
        FROM webhook_subscriptions AS s
        CROSS JOIN unnest(CAST(:ids AS uuid[]), CAST(:sequences AS bigint[]), CAST(:types AS text[]))
            AS e(id, sequence, type)
        WHERE s.partnership_id = :partnership_id AND s.status = 'active'
          AND (cardinality(s.event_types) = 0 OR e.type = ANY(s.event_types))
        RETURNING 1
    )
    SELECT pg_notify(:channel, CAST(:partnership_id AS text))
    """
)


def record_appended(session: Session, partnership_id: UUID, events: Sequence[Mapping[str, Any]]) -> None:
    """The outbox rows and NOTIFY for one partnership's newly written events (`id`, `sequence`, `type`)."""
    session.execute(
        _RECORD,
        {
            "partnership_id": partnership_id,
            "channel": CHANNEL,
            "ids": [e["id"] for e in events],
            "sequences": [e["sequence"] for e in events],
            "types": [e["type"] for e in events],
        },
    )
