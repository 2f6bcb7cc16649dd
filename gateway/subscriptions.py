"""Subscriptions over `graphql-transport-ws`: new ledger events of a partnership as they are chained.

Each subscription polls the partnership's ledger (`after=<last sequence>`) with the subscriber's own
token. Before every event is sent, the subscriber's permission is checked again — its token must still be
valid and still carry a membership (or be an operator's) — and the event is shaped by the subscriber's
schema variant, so an investor's stream never carries a participant id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from uuid import UUID

import strawberry
from strawberry.types import Info

from gateway.context import Context
from gateway.hardening import DomainError
from gateway.ledger import LedgerEvent

POLL_SECONDS = 1.0
PAGE = 100


def ensure_still_allowed(context: Context, partnership_id: UUID) -> None:
    principal = context.principal
    if principal.expires_at is not None and principal.expires_at <= time.time():
        raise DomainError("your token expired; subscribe again with a fresh one", code="token-expired")
    if not (principal.is_member(partnership_id) or principal.is_operator):
        raise DomainError("you are not a partner in this partnership", code="not-a-partner")


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Ledger events of a partnership from `afterSequence` on (0: from the start), as chained."
    )
    async def ledger_events(
        self, info: Info[Context, None], partnership_id: UUID, after_sequence: int = 0
    ) -> AsyncGenerator[LedgerEvent, None]:
        context = info.context
        poll = float(context.extras.get("ledger_poll_seconds", POLL_SECONDS))
        after = after_sequence
        while True:
            ensure_still_allowed(context, partnership_id)
            page = await context.services.outcomes.ledger_page(partnership_id, after=str(after), limit=PAGE)
            items = page.items
            for item in items:
                ensure_still_allowed(context, partnership_id)
                event = LedgerEvent.from_row(item)
                after = event.sequence
                yield event
            if len(items) < PAGE:
                await asyncio.sleep(poll)
