"""What every ledger append does besides the chain: it writes the webhook outbox rows and a NOTIFY, both
in the appending transaction, so a delivery exists exactly when its event does and long-polling feed
readers wake only for committed events (PostgreSQL delivers NOTIFY at commit, never on rollback).

A subscription's event-type filter matches the type its audience receives: a person-level event reaches
an audience that may not see its participant as `dk.effekt.ledger.sealed` (ledger/disclosures.py), so a
filter on `dk.effekt.claim.verified` never tells an investor which sealed events are verifications; so
does a statement's event with exact totals reach an audience that sees no participant (the small-cell
rule's, `disclosures.EXACT_TOTAL_TYPES`). The row rule is access.py's, passed in as its role tables."""

from __future__ import annotations

from typing import Any

from services.outcomes import access, chain
from services.outcomes.ledger import disclosures

CHANNEL = "effekt_ledger"

# The outbox rows and the NOTIFY, as the tail of the statement that writes the events (ledger/service.py,
# `_WRITE`), run while the partnerships' heads are locked: one outbox row per active subscription of an
# event's partnership that wants the event (`:ids`, `:partnerships`, `:sequences`, `:types`,
# `:participants`, one element per event), and one NOTIFY per partnership written (`:head_partnerships`;
# a data-modifying WITH runs whether or not it is read).
DELIVERIES = """
    deliveries AS (
        INSERT INTO webhook_deliveries (subscription_id, event_id, sequence, event_type)
        SELECT s.id, e.id, e.sequence, d.type
        FROM unnest(
            CAST(:ids AS uuid[]), CAST(:partnerships AS uuid[]), CAST(:sequences AS bigint[]),
            CAST(:types AS text[]), CAST(:participants AS uuid[])
        ) AS e(id, partnership_id, sequence, type, participant_id)
        JOIN webhook_subscriptions AS s ON s.partnership_id = e.partnership_id
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
        WHERE s.status = 'active'
          AND (cardinality(s.event_types) = 0 OR d.type = ANY(s.event_types))
        RETURNING 1
    )
    SELECT pg_notify(:channel, CAST(n.partnership_id AS text))
    FROM unnest(CAST(:head_partnerships AS uuid[])) AS n(partnership_id)
"""


def delivery_parameters() -> dict[str, Any]:
    """`DELIVERIES`' parameters besides the events' own arrays and the partnerships written."""
    return {
        "channel": CHANNEL,
        "sees_all": _SEES_ALL,
        "sees_residents": _SEES_RESIDENTS,
        "sealed": chain.SEALED_TYPE,
        "exact_totals": _EXACT_TOTALS,
    }


_SEES_ALL = sorted(access.SEES_ALL_PSEUDONYMS)
_SEES_RESIDENTS = sorted(access.SEES_RESIDENT_PSEUDONYMS)
_EXACT_TOTALS = sorted(disclosures.EXACT_TOTAL_TYPES)
