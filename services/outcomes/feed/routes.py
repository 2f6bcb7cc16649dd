"""HTTP routes for the outcome feed: a CloudEvents batch page (optionally long-polled) and a Server-Sent
Events stream. Each read is its own short transaction, so a waiting request holds no pooled connection.

A stream outlives the request that verified its token, so it checks the token again at every wake-up
(and at least every `TOKEN_CHECK_EVERY` seconds while idle): once it has expired, or identity's revocation
list refuses it (revoked, or superseded by a membership removed, a user or client disabled), the stream
sends `token-expired` or `token-revoked` and closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal, TokenVerifier
from kit.openapi import RESPONSE_HEADERS
from kit.problems import BadRequest, problem_responses
from services.outcomes import access
from services.outcomes.access import Audience
from services.outcomes.dependencies import FeedReader
from services.outcomes.errors import NotAPartner
from services.outcomes.feed import service as feed

router = APIRouter(prefix="/v1", tags=["feed"])

CURSOR_HEADER = "Feed-Cursor"
KEEP_ALIVE = b": keep-alive\n\n"
# How often an idle stream checks that its token still holds (expiry, identity's revocation list).
TOKEN_CHECK_EVERY = 1.0
EVENT_TYPE = re.compile(r"dk\.effekt\.[a-z_]+(\.[a-z_]+)+")
Partnerships = Annotated[
    list[UUID] | None,
    Query(
        alias="partnership", description="Only these partnerships (repeat the parameter); default: all yours."
    ),
]
Types = Annotated[
    list[str] | None,
    Query(
        alias="type",
        description="Only these event types, e.g. `dk.effekt.claim.verified` (repeatable).",
        # Documented, checked by `_types` (a 400 naming `type`, not FastAPI's 422).
        json_schema_extra={
            "items": {"type": "string", "maxLength": 100, "pattern": f"^{EVENT_TYPE.pattern}$"}
        },
    ),
]


def feed_audiences(principal: Principal, partnerships: list[UUID] | None) -> dict[UUID, Audience]:
    if partnerships:
        for p in partnerships:
            if not access.may_read_partnership(principal, p):
                raise NotAPartner("you are not a partner in this partnership", partnership_id=str(p))
        return access.principal_audiences(principal, partnerships)
    return access.principal_audiences(principal, principal.memberships)


def _types(types: list[str] | None) -> list[str]:
    for t in types or []:
        if len(t) > 100 or not EVENT_TYPE.fullmatch(t):
            raise BadRequest.field("type", "an event type looks like `dk.effekt.claim.verified`")
    return types or []


async def _read(
    request: Request, audiences: dict[UUID, Audience], cursor: feed.Cursor, types: list[str], limit: int
) -> feed.FeedPage:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        return await feed.read_page(session, audiences, cursor, types=types, limit=limit)


@router.get(
    "/feed",
    summary="Ledger events you may see, as a CloudEvents batch after a cursor; long-polls with `wait`",
    response_class=Response,
    responses={
        200: {
            "content": {feed.MEDIA_TYPE: {"schema": {"type": "array", "items": {"type": "object"}}}},
            "description": f"A CloudEvents 1.0 JSON batch; continue from the `{CURSOR_HEADER}` header.",
            "headers": {CURSOR_HEADER: RESPONSE_HEADERS[CURSOR_HEADER]},
        },
        **problem_responses(400, 401, 403),
    },
)
async def read_feed(
    request: Request,
    principal: FeedReader,
    partnership: Partnerships = None,
    type: Types = None,
    after: Annotated[str | None, Query(description="The `Feed-Cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = feed.DEFAULT_LIMIT,
    wait: Annotated[float, Query(ge=0, le=feed.MAX_WAIT, description="Seconds to wait for a new event.")] = 0,
) -> Response:
    audiences = feed_audiences(principal, partnership)
    types = _types(type)
    cursor = feed.decode_cursor(after)
    notifier: feed.Notifier = request.app.state.feed_notifier
    deadline = time.monotonic() + wait
    async with notifier.waiter(audiences) as woken:
        while True:
            woken.clear()  # before reading: an event committed after the read still wakes the wait
            page = await _read(request, audiences, cursor, types, limit)
            remaining = deadline - time.monotonic()
            if page.items or remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=min(remaining, notifier.poll_interval))
    next_cursor = feed.encode_cursor(page.cursor)
    next_url = request.url.include_query_params(after=next_cursor)
    return Response(
        content=page.batch(),
        media_type=feed.MEDIA_TYPE,
        headers={
            CURSOR_HEADER: next_cursor,
            "Link": f'<{next_url}>; rel="next"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/feed/stream",
    summary="The same events as Server-Sent Events, live; resume with `Last-Event-ID` (a feed cursor)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`id:` is the cursor after the event."},
        **problem_responses(400, 401, 403),
    },
)
async def stream_feed(
    request: Request,
    principal: FeedReader,
    partnership: Partnerships = None,
    type: Types = None,
    after: Annotated[str | None, Query(description="A feed cursor to start after.")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    audiences = feed_audiences(principal, partnership)
    types = _types(type)
    field = "Last-Event-ID" if last_event_id else "after"
    cursor = feed.decode_cursor(last_event_id or after, field)
    notifier: feed.Notifier = request.app.state.feed_notifier
    verifier: TokenVerifier = request.app.state.token_verifier

    def ending() -> bytes | None:
        """The event that closes the stream once its token no longer holds: expired, or revoked or
        superseded since it was verified (identity's revocation list, held in memory: a cheap check)."""
        if principal.expires_at is not None and time.time() >= principal.expires_at:
            return b"event: token-expired\ndata: {}\n\n"
        reason = verifier.refusal(principal)
        if reason is not None:
            return b"event: token-revoked\ndata: " + json.dumps({"detail": reason}).encode() + b"\n\n"
        return None

    async def idle(woken: asyncio.Event) -> bytes | None:
        """None once woken; after the poll interval, `KEEP_ALIVE`; meanwhile the token is checked every
        `TOKEN_CHECK_EVERY` seconds, and the closing event returned as soon as it no longer holds."""
        deadline = time.monotonic() + notifier.poll_interval
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(woken.wait(), timeout=min(remaining, TOKEN_CHECK_EVERY))
                return None
            except TimeoutError:
                if (end := ending()) is not None:
                    return end
        return KEEP_ALIVE

    async def events() -> AsyncIterator[bytes]:
        position = dict(cursor)
        async with notifier.waiter(audiences) as woken:
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                if (end := ending()) is not None:
                    yield end
                    return
                woken.clear()
                page = await _read(request, audiences, position, types, feed.DEFAULT_LIMIT)
                for item in page.items:
                    position[item.partnership_id] = item.sequence
                    yield (
                        b"id: "
                        + feed.encode_cursor(position).encode()
                        + b"\nevent: "
                        + item.type.encode()
                        + b"\ndata: "
                        + item.body
                        + b"\n\n"
                    )
                position = page.cursor
                if not page.items and (said := await idle(woken)) is not None:
                    yield said
                    if said is not KEEP_ALIVE:
                        return

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
