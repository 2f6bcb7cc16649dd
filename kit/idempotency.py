"""`Idempotency-Key` for write endpoints: a retried request replays the first response, never repeats
the effect.

Each service owns an `idempotency_keys` table (`idempotency_table(Base.metadata)`). The key is claimed with
`INSERT ... ON CONFLICT DO NOTHING` inside the request's own transaction, and the response is stored in
that same transaction, so the effect and its record commit together. A concurrent retry blocks on the
unique index until the first commits, then replays it; a key reused for a different request is a 422.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import CurrentPrincipal, Principal
from kit.db import DbSession
from kit.problems import BadRequest, Conflict, Unprocessable

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("owner", String(200), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    )


class IdempotencyKeyReused(Unprocessable):
    code, title = "idempotency-key-reused", "Idempotency-Key was used for a different request"


class IdempotentRequestInFlight(Conflict):
    code, title = "idempotent-request-in-flight", "A request with this Idempotency-Key is still running"


@dataclass
class Idempotency:
    """The request's idempotency handle; inert when the client sent no key."""

    table: Table
    session: AsyncSession
    owner: str
    key: str | None
    fingerprint: str

    async def replay(self) -> JSONResponse | None:
        """Claim the key, or return the stored response of the request that claimed it first."""
        if self.key is None:
            return None
        claimed = await self.session.execute(
            insert(self.table)
            .values(owner=self.owner, key=self.key, fingerprint=self.fingerprint)
            .on_conflict_do_nothing()
            .returning(self.table.c.key)
        )
        if claimed.first() is not None:
            return None
        row = (
            await self.session.execute(
                select(self.table.c.fingerprint, self.table.c.status_code, self.table.c.response).where(
                    self.table.c.owner == self.owner, self.table.c.key == self.key
                )
            )
        ).one()
        if row.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(f"the key {self.key!r} was first used with a different request")
        if row.status_code is None:
            raise IdempotentRequestInFlight()
        return JSONResponse(
            row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"}
        )

    async def respond(
        self, status_code: int, content: Any, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        """The response, recorded against the key (in the same transaction as the effect)."""
        body = jsonable_encoder(content)
        if self.key is not None:
            await self.session.execute(
                update(self.table)
                .where(self.table.c.owner == self.owner, self.table.c.key == self.key)
                .values(status_code=status_code, response=body)
            )
        return JSONResponse(body, status_code=status_code, headers=headers)


IdempotencyFactory = Callable[[Request, AsyncSession, Principal], Coroutine[Any, Any, Idempotency]]


def idempotency_dependency(table: Table) -> IdempotencyFactory:
    """A FastAPI dependency giving the request an `Idempotency` bound to the service's table and to the
    request's own session (FastAPI caches `DbSession` per request, so it is the handler's session)."""

    async def dependency(request: Request, session: DbSession, principal: CurrentPrincipal) -> Idempotency:
        key = request.headers.get(HEADER)
        if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
            raise BadRequest.field(HEADER, f"must be 1 to {MAX_KEY_LENGTH} printable characters")
        body = await request.body()
        digest = hashlib.sha256()
        for part in (request.method.encode(), request.url.path.encode(), request.url.query.encode(), body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return Idempotency(
            table=table,
            session=session,
            owner=f"{principal.organisation_id}:{principal.subject}",
            key=key,
            fingerprint=digest.hexdigest(),
        )

    return dependency
