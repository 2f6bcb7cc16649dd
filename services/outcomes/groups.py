"""Group commit for single writes: concurrent requests of one kind (claims, verifications, eligibility
confirmations, enrolments) are collected for a short window (`OUTCOMES_GROUP_WINDOW`, 2 ms) or until a
group is full (`OUTCOMES_GROUP_SIZE`) and written in one transaction by the kind's set form
(`submit_each`, `decide_many`, `confirm_many`, `enrol_many`), so the row locks, the ledger heads' locks and
the commit's WAL flush are paid once per group rather than once per request. One window and size serve
every kind (each kind collects its own groups); a size of 1 writes each request on its own, as a route
without groups would.

What each request keeps:
- **Its own answer and error.** A kind's set form checks every item before writing any and answers each
  with its row or its problem, so a refused item fails alone and its neighbours are written. An item's
  own preconditions travel with it (a verification's `If-Match` version: its own 412).
- **Its own Idempotency-Key.** Each key is claimed in the group's transaction with the request's own
  fingerprint and answered from there; a replay of a committed key answers the stored response; a key
  whose item was refused is released, so a retry runs afresh. A second request with a key still queued
  or being written gets 409 at once, as a single write's would (kit/idempotency.py).
- **Durability before acknowledgement.** No request is answered before its group has committed; a group
  whose transaction fails answers every request in it with that failure (a 503 when it is transient), so
  nothing acknowledged is lost in a crash.

Groups are formed per kind, and for verifications, confirmations and enrolments per row-security context (the
caller's partnerships and organisation, kit/rows.py): such a group's transaction names exactly what each of
its requests' own would. A kind with a form taking each item with its own caller (`Kind.each`: claims,
`claims.submit_each`) forms one group across callers' contexts instead, whose transaction names the context
spanning theirs (`kit.rows.spanning`): the union of their partnerships. Row security then no longer walls one
caller off from another, so that form admits every item in SQL by its own caller's rules
(`claims.lock_admitted`), and nothing a caller could not write or read alone is written or answered because a
neighbour widened the transaction. An operator's `*` context keeps groups of its own. One group per context
(or the spanning one) is written at a time; what arrives meanwhile forms the next. Within a group the set form
locks its rows in id order, and the ledger is chained at commit in the group's order, one gap-free chain per
partnership, every partnership's head locked in one statement. A set form that takes one partnership, or each
row once, is given the group in parts (`by_part`, `in_rounds`), written one after the other in the same
transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal
from kit.idempotency import (
    Idempotency,
    IdempotentRequestInFlight,
    release_many,
    replay_many,
    respond_many,
)
from kit.problems import Problem
from kit.rows import EVERY_PARTNERSHIP, RowContext, bind_context, row_context, spanning
from services.outcomes.collaborators import Deps

log = structlog.get_logger(__name__)

Item = TypeVar("Item")
Row = TypeVar("Row")

# A kind's set form: each item's row or problem, in order, written in the session's transaction.
WriteMany = Callable[[AsyncSession, Principal, list[Item], Deps], Awaitable[list[Row | Problem]]]
# A kind's form taking each item with its own caller: (principal, item, deps) each, answered in order.
WriteEach = Callable[[AsyncSession, list[tuple[Principal, Item, Deps]]], Awaitable[list[Row | Problem]]]
# What the written rows answer: each one's body and headers (the route's rendering), in order.
Render = Callable[[AsyncSession, Principal, list[Row]], Awaitable[list[tuple[Any, dict[str, str]]]]]


@dataclass(frozen=True, slots=True)
class Kind(Generic[Item, Row]):
    """One kind of single write that can be grouped."""

    name: str  # in logs and the worker task's name
    write: WriteMany[Item, Row]
    render: Render[Row]
    status: int  # what a written item answers: 201 for a new row, 200 for a decision
    # Set when the kind admits each item by its own caller's rules in SQL: its groups span callers.
    each: WriteEach[Item, Row] | None = None


def by_part(part: Callable[[Item], Any], write: WriteMany[Item, Row]) -> WriteMany[Item, Row]:
    """`write` given the items in parts of equal `part(item)` (a set form taking one partnership), the
    parts in sorted order so that two groups take their parts' locks in the same order; answers in the
    items' order."""

    async def written(
        session: AsyncSession, principal: Principal, items: list[Item], deps: Deps
    ) -> list[Row | Problem]:
        parts: dict[Any, list[int]] = {}
        for i, item in enumerate(items):
            parts.setdefault(part(item), []).append(i)
        answers: list[Row | Problem | None] = [None] * len(items)
        for key in sorted(parts):
            indexes = parts[key]
            made = await write(session, principal, [items[i] for i in indexes], deps)
            for i, answer in zip(indexes, made, strict=True):
                answers[i] = answer
        return [answer for answer in answers if answer is not None]

    return written


def in_rounds(row: Callable[[Item], Hashable], write: WriteMany[Item, Row]) -> WriteMany[Item, Row]:
    """`write` given the items in rounds in which each `row(item)` appears once (a set form deciding each
    row once): a request for a row already in the round goes in the next, so it sees what the first did,
    as it would written after it; answers in the items' order."""

    async def written(
        session: AsyncSession, principal: Principal, items: list[Item], deps: Deps
    ) -> list[Row | Problem]:
        rounds: list[tuple[set[Hashable], list[int]]] = []
        for i, item in enumerate(items):
            key = row(item)
            found = next((r for r in rounds if key not in r[0]), None)
            if found is None:
                found = (set(), [])
                rounds.append(found)
            found[0].add(key)
            found[1].append(i)
        answers: list[Row | Problem | None] = [None] * len(items)
        for _, indexes in rounds:
            made = await write(session, principal, [items[i] for i in indexes], deps)
            for i, answer in zip(indexes, made, strict=True):
                answers[i] = answer
        return [answer for answer in answers if answer is not None]

    return written


@dataclass(slots=True)
class _Request(Generic[Item]):
    principal: Principal
    item: Item
    idem: Idempotency
    deps: Deps
    context: RowContext  # the caller's own
    answer: asyncio.Future[JSONResponse]

    @property
    def key(self) -> tuple[str, str] | None:
        return None if self.idem.key is None else (self.idem.owner, self.idem.key)


class Groups(Generic[Item, Row]):
    """One kind's collecting groups in this process; `submit` is what the route awaits."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        kind: Kind[Item, Row],
        *,
        window: float,
        size: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.kind = kind
        self.window, self.size = window, size
        # Keyed by the callers' row context; None: the group spanning callers' contexts (`Kind.each`).
        self._queues: dict[RowContext | None, list[_Request[Item]]] = {}
        self._workers: dict[RowContext | None, asyncio.Task[None]] = {}
        self._keys: set[tuple[str, str]] = set()  # Idempotency-Keys queued or being written

    async def submit(self, principal: Principal, item: Item, idem: Idempotency, deps: Deps) -> JSONResponse:
        """The item's answer once its group has committed (a problem is raised)."""
        context = row_context()
        request = _Request(principal, item, idem, deps, context, asyncio.get_running_loop().create_future())
        if request.key is not None:
            if request.key in self._keys:
                raise IdempotentRequestInFlight(
                    f"the first request with the key {idem.key!r} has not finished; retry after it has",
                    headers={"Retry-After": "1"},
                )
            self._keys.add(request.key)
        spans = self.kind.each is not None and context.partnerships != EVERY_PARTNERSHIP
        queue = None if spans else context
        self._queues.setdefault(queue, []).append(request)
        if queue not in self._workers:
            # The task copies this request's context, so its transactions name the same partnerships; the
            # spanning worker names each group's spanning context instead (`_work`).
            self._workers[queue] = asyncio.create_task(self._work(queue), name=f"{self.kind.name}-group")
        # Shielded: a caller that goes away does not take its item out of a group being written.
        return await asyncio.shield(request.answer)

    async def _work(self, key: RowContext | None) -> None:
        try:
            if key is None:  # its logs are no one caller's (the task copied the first request's identity)
                structlog.contextvars.clear_contextvars()
            await asyncio.sleep(self.window)  # what arrives while a group is written forms the next
            while queue := self._queues.get(key):
                group, self._queues[key] = queue[: self.size], queue[self.size :]
                if key is None:
                    bind_context(spanning(request.context for request in group))
                await self._write(group)
        finally:
            del self._workers[key]
            for request in self._queues.pop(key, []):  # left only when the worker was cancelled
                if request.key is not None:
                    self._keys.discard(request.key)
                request.answer.cancel()

    async def _write(self, group: list[_Request[Item]]) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                answers = await self._answers(session, group)
        except BaseException as exc:  # the group's transaction failed: nothing in it holds
            for request in group:
                if request.key is not None:
                    self._keys.discard(request.key)
                if request.answer.done():
                    continue
                if isinstance(exc, Exception):
                    request.answer.set_exception(exc)
                else:
                    request.answer.cancel()
            if not isinstance(exc, Exception):
                raise
            log.warning("group_failed", kind=self.kind.name, items=len(group), error=type(exc).__name__)
            return
        for request, answer in zip(group, answers, strict=True):
            if request.key is not None:
                self._keys.discard(request.key)
            if request.answer.done():
                continue
            if isinstance(answer, Problem):
                request.answer.set_exception(answer)
            else:
                request.answer.set_result(answer)

    async def _answers(
        self, session: AsyncSession, group: list[_Request[Item]]
    ) -> list[JSONResponse | Problem]:
        """Every request's answer, written in the session's transaction (committed by the caller). The keys
        are claimed in one statement and the answers recorded in one: a few round trips per group."""
        answers: list[JSONResponse | Problem | None] = [None] * len(group)
        handles = [replace(request.idem, session=session) for request in group]
        fresh: list[tuple[int, _Request[Item], Idempotency]] = []
        for i, (request, idem, replayed) in enumerate(
            zip(group, handles, await replay_many(session, handles), strict=True)
        ):
            if replayed is not None:
                answers[i] = replayed
            else:
                fresh.append((i, request, idem))
        released: list[Idempotency] = []
        responding: list[tuple[int, tuple[Idempotency, int, Any, dict[str, str]]]] = []
        each = self.kind.each
        # A spanning kind's form takes the group whole, each item with its own caller; another kind's takes
        # one caller: the group's items go in per token (usually one).
        batches = [fresh] if each is not None and fresh else list(_by_caller(fresh).values())
        for items in batches:
            if each is not None:
                made = await each(session, [(r.principal, r.item, r.deps) for _, r, _ in items])
            else:
                principal, deps = items[0][1].principal, items[0][1].deps
                made = await self.kind.write(session, principal, [r.item for _, r, _ in items], deps)
            written: list[tuple[int, _Request[Item], Idempotency]] = []
            rows: dict[int, Row] = {}
            for (i, request, idem), outcome in zip(items, made, strict=True):
                if isinstance(outcome, Problem):
                    answers[i] = outcome
                    released.append(idem)
                else:
                    written.append((i, request, idem))
                    rows[i] = outcome
            for mine in _by_caller(written).values():  # each caller's rows rendered as it may see them
                principal = mine[0][1].principal
                rendered = await self.kind.render(session, principal, [rows[i] for i, _, _ in mine])
                for (i, _, idem), (body, headers) in zip(mine, rendered, strict=True):
                    responding.append((i, (idem, self.kind.status, body, headers)))
        responses = await respond_many(session, [answer for _, answer in responding])
        for (i, _), response in zip(responding, responses, strict=True):
            answers[i] = response
        # A refused item's key is free again, as a rolled-back request's would be.
        await release_many(session, released)
        log.debug("group_written", kind=self.kind.name, items=len(group))
        return [answer for answer in answers if answer is not None]


def _by_caller(
    items: list[tuple[int, _Request[Item], Idempotency]],
) -> dict[tuple[str, str | None], list[tuple[int, _Request[Item], Idempotency]]]:
    """The items per caller (its token), in order."""
    callers: dict[tuple[str, str | None], list[tuple[int, _Request[Item], Idempotency]]] = {}
    for item in items:
        callers.setdefault((item[1].principal.subject, item[1].principal.token_id), []).append(item)
    return callers


def groups_of(request: Request, kind: Kind[Item, Row]) -> Groups[Item, Row] | None:
    """The app's groups of this kind, made on first use (the sessionmaker exists once the app has
    started); None when groups are off (`OUTCOMES_GROUP_SIZE=1`)."""
    state = request.app.state
    settings = state.settings
    if settings.group_size <= 1:
        return None
    every: dict[str, Groups[Any, Any]] | None = getattr(state, "groups", None)
    if every is None:
        every = state.groups = {}
    found = every.get(kind.name)
    if found is None:
        found = every[kind.name] = Groups(
            state.sessionmaker, kind, window=settings.group_window, size=settings.group_size
        )
    return found
