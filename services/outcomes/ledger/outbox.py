"""What every ledger append does besides the chain: it writes the webhook outbox rows and a NOTIFY, both
in the appending transaction, so a delivery exists exactly when its event does and long-polling feed
readers wake only for committed events (PostgreSQL delivers NOTIFY at commit, never on rollback).

A subscription's event-type filter matches the type its audience receives: a person-level event reaches
an audience that may not see its participant as `dk.effekt.ledger.sealed` (ledger/disclosures.py), so a
filter on `dk.effekt.claim.verified` never tells an investor which sealed events are verifications; so
does a statement's event with exact totals reach an audience that sees no participant (the small-cell
rule's, `disclosures.EXACT_TOTAL_TYPES`). The row rule is access.py's, passed in as its role tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.outcomes import access, chain
from services.outcomes.ledger import disclosures

CHANNEL = "effekt_ledger"

# One statement, run while the partnership's head is locked: one outbox row per active subscription
# that wants each event, and the NOTIFY (a data-modifying WITH runs whether or not it is read).
_RECORD = text(
    """
    WITH deliveries AS (
        INSERT INTO webhook_deliveries (subscription_id, event_id, sequence, event_type)
        SELECT s.id, e.id, e.sequence, d.type
        FROM webhook_subscriptions AS s
        CROSS JOIN unnest(
            CAST(:ids AS uuid[]), CAST(:sequences AS bigint[]), CAST(:types AS text[]),
            CAST(:participants AS uuid[])
        ) AS e(id, sequence, type, participant_id)
        LEFT JOIN participants AS p ON p.id = e.participant_id
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN e.type = ANY(CAST(:exact_totals AS text[])) THEN CASE
                    WHEN s.audience = ANY(CAST(:sees_all AS text[]))
                        OR (s.audience = ANY(CAST(:sees_residents AS text[]))
                            AND s.municipality_code IS NOT NULL)
                    THEN e.type ELSE :sealed
                END
                WHEN e.participant_id IS NULL OR s.audience = ANY(CAST(:sees_all AS text[]))
                    OR (s.audience = ANY(CAST(:sees_residents AS text[]))
                        AND s.municipality_code = p.municipality_code)
                THEN e.type ELSE :sealed
            END AS type
        ) AS d
        WHERE s.partnership_id = :partnership_id AND s.status = 'active'
          AND (cardinality(s.event_types) = 0 OR d.type = ANY(s.event_types))
        RETURNING 1
    )
    SELECT pg_notify(:channel, CAST(:partnership_id AS text))
    """
)


def record_appended(
    session: Session,
    partnership_id: UUID,
    events: Sequence[Mapping[str, Any]],
    participants: Sequence[UUID | None],
) -> None:
    """The outbox rows and NOTIFY for one partnership's newly written events (`id`, `sequence`, `type`),
    with each person-level event's participant (None for a partnership-level one)."""
    session.execute(
        _RECORD,
        {
            "partnership_id": partnership_id,
            "channel": CHANNEL,
            "ids": [e["id"] for e in events],
            "sequences": [e["sequence"] for e in events],
            "types": [e["type"] for e in events],
            "participants": list(participants),
            "sees_all": sorted(access.SEES_ALL_PSEUDONYMS),
            "sees_residents": sorted(access.SEES_RESIDENT_PSEUDONYMS),
            "sealed": chain.SEALED_TYPE,
            "exact_totals": sorted(disclosures.EXACT_TOTAL_TYPES),
        },
    )
