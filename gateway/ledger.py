"""A partnership's hash-chained ledger as partners see it: its events in sequence order, and the whole
chain verified on demand. Backed by the outcome service; live events are subscriptions.py's.

A ledger event's subject, data and canonical bytes can name a participant: the outcome service already
sends a person-level event as a sealed stub (`dk.effekt.ledger.sealed`: no subject, data or bytes) to a
caller that may not see its participant, and policy.py hides those fields from such partner types too.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.clients.outcomes import ChainStatusRow, LedgerEntryRow
from gateway.context import Context
from gateway.relay import Connection, check_first, from_page
from gateway.rows import from_row


@strawberry.type(description="One link of the partnership's hash chain.")
class LedgerEvent:
    sequence: int
    type: str
    time: datetime
    hash: str
    prev_hash: str
    actor_organisation_id: UUID | None
    row: strawberry.Private[LedgerEntryRow]

    @classmethod
    def from_row(cls, row: LedgerEntryRow) -> LedgerEvent:
        event = row.event or {}
        actor = (event.get("data") or {}).get("actor") or {}
        return cls(
            sequence=row.sequence,
            type=str(event.get("type", "")),
            time=datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00")),
            hash=row.hash,
            prev_hash=row.prev_hash,
            actor_organisation_id=UUID(actor["organisation_id"]) if actor.get("organisation_id") else None,
            row=row,
        )

    @strawberry.field(description="What the event is about (`outcome-claims/<id>`, …).")
    def subject(self) -> str:
        return str((self.row.event or {}).get("subject", ""))

    @strawberry.field
    def participant_id(self) -> UUID | None:
        value = ((self.row.event or {}).get("data") or {}).get("participant_id")
        return UUID(value) if value else None

    @strawberry.field(description="The event's data as chained (CloudEvents `data`).")
    def data(self) -> JSON:
        return cast(JSON, dict((self.row.event or {}).get("data") or {}))

    @strawberry.field(description="The exact bytes hashed into the chain (RFC 8785 JSON).")
    def canonical(self) -> str:
        return self.row.canonical


@strawberry.type
class ChainStatus:
    valid: bool
    checked: int
    last_sequence: int | None
    last_hash: str | None
    broken_at: int | None
    reason: str | None

    @classmethod
    def from_row(cls, row: ChainStatusRow) -> ChainStatus:
        return from_row(cls, row)


def _sequence(event: LedgerEvent) -> str:
    return str(event.sequence)


async def ledger_page(
    info: Info[Context, None], partnership_id: UUID, first: int, after: str | None
) -> Connection[LedgerEvent]:
    page = await info.context.services.outcomes.ledger_page(
        partnership_id, after=after or "0", limit=check_first(first)
    )
    return from_page(page, LedgerEvent.from_row, _sequence, after=after)
