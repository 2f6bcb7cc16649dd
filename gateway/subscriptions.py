"""Subscriptions over `graphql-transport-ws`: new ledger events of a partnership as they are chained.

A subscription first reads the events after its `afterSequence` itself, page by page at its own pace and
with its own token, as far as the ledger goes; then it attaches to the process's one shared reader of
that partnership for its audience (streams.py), which polls the outcome service once per interval for
all its subscribers, however many. So N subscribers cost N backlog reads once, and one poll per interval.

The audience is the caller's verified partner type, roles in the partnership and municipality: only
callers whose rights agree share a reader. Before every event is sent, the subscriber's permission is
checked again — its token must still be valid, not revoked, and carry a membership (or be an
operator's) — and the event is shaped by the subscriber's own schema variant, so an investor's stream
never carries a participant id.

Limits (settings): subscriptions per socket and per caller; one more is refused with an `error` for that
subscription alone (`too-many-subscriptions`). A subscriber that falls `subscription_queue_size` events
behind is ended with `slow-subscriber` and `after_sequence`, the last event it received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Hashable
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.context import Context
from gateway.hardening import DomainError
from gateway.ledger import LedgerEvent
from gateway.relay import uuid_of
from gateway.settings import Settings
from gateway.streams import Ended, Hub, Overflowed, Slot, Subscriber, View
from kit.auth import Principal

PAGE = 100


def ledger_streams(settings: Settings) -> Hub[LedgerEvent]:
    """The process's shared ledger readers and subscription limits (app.state.ledger_streams)."""
    return Hub(
        poll_seconds=settings.ledger_poll_seconds,
        page=PAGE,
        queue_size=settings.subscription_queue_size,
        per_socket=settings.subscriptions_per_socket,
        per_caller=settings.subscriptions_per_caller,
    )


def ensure_still_allowed(context: Context, partnership_id: UUID) -> None:
    principal = context.principal
    if principal.expires_at is not None and principal.expires_at <= time.time():
        raise DomainError("your token expired; subscribe again with a fresh one", code="token-expired")
    if not (principal.is_member(partnership_id) or principal.is_operator):
        raise DomainError("you are not a partner in this partnership", code="not-a-partner")


def refusal(context: Context, partnership_id: UUID) -> DomainError | None:
    """Why this subscriber may no longer receive events (expired, not a member, revoked), or None."""
    try:
        ensure_still_allowed(context, partnership_id)
    except DomainError as refused:
        return refused
    reason = context.verifier.refusal(context.principal) if context.verifier is not None else None
    if reason is not None:
        return DomainError(f"your token no longer holds: {reason}", code="token-revoked")
    return None


def audience(principal: Principal, partnership_id: UUID) -> Hashable:
    """Who a shared reader reads for: two callers share one only when their verified rights agree."""
    roles = tuple(sorted(principal.roles_in(partnership_id)))
    return (principal.partner_type, principal.is_operator, roles, principal.municipality_code)


def caller(principal: Principal) -> Hashable:
    """Whose subscriptions count together against `subscriptions_per_caller`: the token's subject."""
    return (principal.kind, principal.subject)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Ledger events of a partnership from `afterSequence` on (0: from the start), as chained."
    )
    async def ledger_events(
        self, info: Info[Context, None], partnership_id: relay.GlobalID, after_sequence: int = 0
    ) -> AsyncGenerator[LedgerEvent, None]:
        # Not a generator itself: what is refused here is refused before the subscription starts (an
        # `error` message for this id), and a refused slot is never taken.
        context = info.context
        key = uuid_of(partnership_id, "Partnership", field="partnershipId")
        ensure_still_allowed(context, key)
        slot = context.streams.limits.acquire(caller(context.principal), context.connection)
        # The operation's task ends however the subscription does (completed, failed, the socket gone),
        # even before its generator first runs, when a `finally` in it would never run.
        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(lambda _: slot.release())
        return _events(context, key, after_sequence, slot)


async def _events(
    context: Context, partnership_id: UUID, after: int, slot: Slot
) -> AsyncGenerator[LedgerEvent, None]:
    hub: Hub[LedgerEvent] = context.streams
    outcomes = context.services.outcomes

    async def read(after: int, limit: int) -> list[LedgerEvent]:
        page = await outcomes.ledger_page(partnership_id, after=str(after), limit=limit)
        return [LedgerEvent.from_row(row) for row in page.items]

    def check() -> None:
        if (refused := refusal(context, partnership_id)) is not None:
            raise refused

    position = after
    try:
        while True:  # the backlog, read for this subscriber alone
            check()
            events = await read(position, PAGE)
            for event in events:
                check()
                position = event.sequence
                yield event
            if len(events) < PAGE:
                break
        subscriber = Subscriber(
            read,
            credential=context.token,
            refusal=lambda: refusal(context, partnership_id),
            cursor=position,
            queue_size=hub.queue_size,
        )
        view = View(partnership_id, audience(context.principal, partnership_id))
        with hub.attached(view, subscriber):
            while True:
                try:
                    live = await subscriber.next(hub.poll_seconds)
                except Ended as ended:
                    raise _ending(ended.cause, position) from None
                check()
                if live is not None:
                    position = live.sequence
                    yield live
    finally:
        slot.release()


def _ending(cause: Exception, position: int) -> DomainError:
    """The error that ends a subscriber its shared reader ended, naming where to resume."""
    if isinstance(cause, Overflowed):
        return DomainError(
            "you fell too far behind the ledger; subscribe again from `after_sequence`",
            code="slow-subscriber",
            after_sequence=position,
        )
    if isinstance(cause, DomainError):
        extensions = {k: v for k, v in cause.extensions.items() if k != "code"}
        return DomainError(str(cause), code=cause.code, **extensions, after_sequence=position)
    return DomainError(
        "the ledger could not be read; subscribe again from `after_sequence`",
        code="service-unavailable",
        service="outcomes",
        after_sequence=position,
    )
