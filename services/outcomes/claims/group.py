"""Group commit for single claim submissions: concurrent `POST /v1/outcome-claims` requests are collected
for a short window (`OUTCOMES_CLAIM_GROUP_WINDOW`, 2 ms) or until a group is full
(`OUTCOMES_CLAIM_GROUP_SIZE`) and written in one transaction, so the ledger head's lock and the commit's
WAL flush are paid once per group rather than once per claim.

What each request keeps:
- **Its own answer and error.** The claims go through `submit_many`, which checks every claim before
  writing any, so a refused claim fails alone and its neighbours are written; each request gets its own
  201 or problem.
- **Its own Idempotency-Key.** Each key is claimed in the group's transaction with the request's own
  fingerprint and answered from there; a replay of a committed key answers the stored response; a key
  whose claim was refused is released, so a retry runs afresh. A second request with a key still queued
  or being written gets 409 at once, as a single write's would (kit/idempotency.py).
- **Durability before acknowledgement.** No request is answered before its group has committed; a group
  whose transaction fails answers every request in it with that failure (a 503 when it is transient), so
  nothing acknowledged is lost in a crash.

Groups are formed per row-security context (the caller's partnerships and organisation, kit/rows.py): a
group's transaction names exactly what each of its requests' own would. One group per context is written
at a time; what arrives meanwhile forms the next. Within a group the participants are locked in id order
(`submit_many`), and the ledger is chained at commit in the group's order, one gap-free chain per
partnership.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.auth import Principal
from kit.idempotency import Idempotency, IdempotentRequestInFlight
from kit.problems import Problem
from kit.rows import RowContext, row_context
from services.outcomes.claims.service import submit_many
from services.outcomes.collaborators import Deps
from services.outcomes.models import OutcomeClaim
from services.outcomes.schemas import ClaimCreate

log = structlog.get_logger(__name__)

# What a created claim answers: its body and headers (the route's rendering).
Render = Callable[[OutcomeClaim], tuple[Any, dict[str, str]]]


@dataclass(slots=True)
class _Request:
    principal: Principal
    body: ClaimCreate
    idem: Idempotency
    deps: Deps
    answer: asyncio.Future[JSONResponse]

    @property
    def key(self) -> tuple[str, str] | None:
        return None if self.idem.key is None else (self.idem.owner, self.idem.key)


class ClaimGroups:
    """The process's collecting groups; `submit` is what the route awaits."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], render: Render, *, window: float, size: int
    ) -> None:
        self._sessionmaker = sessionmaker
        self._render = render
        self.window, self.size = window, size
        self._queues: dict[RowContext, list[_Request]] = {}
        self._workers: dict[RowContext, asyncio.Task[None]] = {}
        self._keys: set[tuple[str, str]] = set()  # Idempotency-Keys queued or being written

    async def submit(
        self, principal: Principal, body: ClaimCreate, idem: Idempotency, deps: Deps
    ) -> JSONResponse:
        """The claim's answer once its group has committed (a problem is raised)."""
        request = _Request(principal, body, idem, deps, asyncio.get_running_loop().create_future())
        if request.key is not None:
            if request.key in self._keys:
                raise IdempotentRequestInFlight(
                    f"the first request with the key {idem.key!r} has not finished; retry after it has",
                    headers={"Retry-After": "1"},
                )
            self._keys.add(request.key)
        context = row_context()
        self._queues.setdefault(context, []).append(request)
        if context not in self._workers:
            # The task copies this request's context, so its transactions name the same partnerships.
            self._workers[context] = asyncio.create_task(self._work(context), name="claim-group")
        # Shielded: a caller that goes away does not take its claim out of a group being written.
        return await asyncio.shield(request.answer)

    async def _work(self, context: RowContext) -> None:
        try:
            await asyncio.sleep(self.window)  # what arrives while a group is written forms the next
            while queue := self._queues.get(context):
                group, self._queues[context] = queue[: self.size], queue[self.size :]
                await self._write(group)
        finally:
            del self._workers[context]
            for request in self._queues.pop(context, []):  # left only when the worker was cancelled
                if request.key is not None:
                    self._keys.discard(request.key)
                request.answer.cancel()

    async def _write(self, group: list[_Request]) -> None:
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
            log.warning("claim_group_failed", claims=len(group), error=type(exc).__name__)
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

    async def _answers(self, session: AsyncSession, group: list[_Request]) -> list[JSONResponse | Problem]:
        """Every request's answer, written in the session's transaction (committed by the caller)."""
        answers: list[JSONResponse | Problem | None] = [None] * len(group)
        fresh: dict[tuple[str, str | None], list[tuple[int, _Request, Idempotency]]] = {}
        for i, request in enumerate(group):
            idem = replace(request.idem, session=session)
            try:
                replayed = await idem.replay()
            except Problem as problem:
                answers[i] = problem
                continue
            if replayed is not None:
                answers[i] = replayed
                continue
            # `submit_many` takes one caller: the group's claims go in per token (usually one).
            caller = (request.principal.subject, request.principal.token_id)
            fresh.setdefault(caller, []).append((i, request, idem))
        released: list[Idempotency] = []
        for items in fresh.values():
            principal, deps = items[0][1].principal, items[0][1].deps
            made = await submit_many(session, principal, [r.body for _, r, _ in items], deps)
            for (i, _, idem), outcome in zip(items, made, strict=True):
                if isinstance(outcome, Problem):
                    answers[i] = outcome
                    released.append(idem)
                    continue
                body, headers = self._render(outcome)
                answers[i] = await idem.respond(201, body, headers)
        for idem in released:  # a refused claim's key is free again, as a rolled-back request's would be
            if idem.key is not None:
                await session.execute(
                    delete(idem.table).where(idem.table.c.owner == idem.owner, idem.table.c.key == idem.key)
                )
        log.debug("claim_group_written", claims=len(group))
        return [answer for answer in answers if answer is not None]
