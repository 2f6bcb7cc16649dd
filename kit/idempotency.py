"""`Idempotency-Key` for write endpoints, as draft-ietf-httpapi-idempotency-key-header and Stripe behave: a
retried request replays the first response, never repeats the effect.

- **Replay, whole.** The first response's status, body and headers (`ETag`, `Location`, `Content-Type`,
  `Cache-Control`, …: every header the route set) are stored with the key and sent again, byte for byte,
  with `Idempotent-Replayed: true`. Headers of the transport (`Date`, the request id) are each request's own.
- **One at a time.** While the first request with a key is still running, a second one with the same key
  gets `409 idempotent-request-in-flight` at once (with `Retry-After`), never a wait: the first holds a
  transaction-scoped advisory lock on (owner, key) that the second only *tries* to take.
- **Same key, other request.** A key reused with another method, path, query or body is a
  `422 idempotency-key-reused`.
- **Expiry.** A stored response is replayed for the service's `idempotency_replay_seconds` (24 hours by
  default, `<SERVICE>_IDEMPOTENCY_REPLAY_SECONDS`); after that the key is free again and a request with it
  is a new one. `idempotency_sweep` deletes expired keys every `idempotency_sweep_seconds`.

Each service owns an `idempotency_keys` table (`idempotency_table(Base.metadata)`). The key is claimed in
the request's own transaction and the response stored in that same transaction, so the effect and its
record commit together; a request that fails rolls its claim back, and a retry runs afresh. Keys belong
to the caller (organisation and subject): another caller's key never replays. Requests written together in
one transaction (a service's group commit) claim, record and release their keys in one statement each
(`replay_many`, `respond_many`, `release_many`), each key keeping the semantics above.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Update,
    bindparam,
    column,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Select

from kit.auth import CurrentPrincipal, Principal
from kit.db import DbSession
from kit.problems import BadRequest, Conflict, Problem, Unprocessable

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
DEFAULT_LIFETIME = timedelta(hours=24)
# Headers Starlette derives from the body; a replay derives them again from the same body.
_DERIVED = frozenset({"content-length"})
# The key's lock is taken, never waited for: a second request with the key sees the first still running.
# The two-int form (owner's hash, key's hash: 64 bits) is a key space apart from the services' single-bigint
# locks. Holding it, the key is claimed (a new one, or one whose stored response expired, taken over
# afresh), all in one round trip: whether the lock was held, and whether the key was claimed. The table is
# `idempotency_table`'s, whose name is the same in every service.
_CLAIM = sql(
    """
    WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext(:owner), hashtext(:key)) AS held),
    claimed AS (
        INSERT INTO idempotency_keys (owner, key, fingerprint)
        SELECT :owner, :key, :fingerprint FROM lock WHERE held
        ON CONFLICT (owner, key) DO UPDATE
            SET fingerprint = excluded.fingerprint, status_code = NULL, response = NULL, headers = NULL,
                created_at = now()
            WHERE idempotency_keys.created_at < now() - CAST(:lifetime AS interval)
        RETURNING 1
    )
    SELECT held, EXISTS (SELECT 1 FROM claimed) AS claimed FROM lock
    """
)


def _stored_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers a JSONResponse with these would send, as Starlette sets them (names lowercased, in
    order, then its content type unless given), less those derived from the body; without rendering
    the body to find out."""
    stored = {name.lower(): value for name, value in (headers or {}).items()}
    stored.setdefault("content-type", "application/json")  # JSONResponse.media_type
    for name in _DERIVED:
        stored.pop(name, None)
    return stored


@dataclass(frozen=True, slots=True)
class _Statements:
    stored: Select[Any]
    record: Update
    record_many: Update  # `record` for many keys, as an executemany (`respond_many`)


@functools.cache
def _statements(table: Table) -> _Statements:
    """The table's statements, built once (building one costs about what running it does)."""
    c = table.c
    this_key = (c.owner == bindparam("i_owner", type_=c.owner.type)) & (
        c.key == bindparam("i_key", type_=c.key.type)
    )
    return _Statements(
        stored=select(c.fingerprint, c.status_code, c.response, c.headers).where(this_key),
        record=update(table)
        .where(this_key)
        .values(
            status_code=bindparam("i_status", type_=c.status_code.type),
            response=bindparam("i_response", type_=c.response.type),
            headers=bindparam("i_headers", type_=c.headers.type),
        ),
        record_many=update(table)
        .where(c.owner == bindparam("b_owner"), c.key == bindparam("b_key"))
        .values(
            status_code=bindparam("b_status"),
            response=bindparam("b_response", type_=JSON),
            headers=bindparam("b_headers", type_=JSON),
        ),
    )


# `_CLAIM` for many keys in one round trip (`replay_many`): each key's lock and claim as above, and the
# stored response of each key not claimed, read from the statement's snapshot (before any claim here),
# each by the key's primary key (a LATERAL probe: as a plain join, unanalysed it scanned the whole table).
_CLAIM_MANY = sql(
    """
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:owners AS text[]), CAST(:keys AS text[]), CAST(:fingerprints AS text[]))
            WITH ORDINALITY AS w(owner, key, fingerprint, n)
    ),
    lock AS MATERIALIZED (
        SELECT n, owner, key, fingerprint, pg_try_advisory_xact_lock(hashtext(owner), hashtext(key)) AS held
        FROM wanted
    ),
    claimed AS (
        INSERT INTO idempotency_keys (owner, key, fingerprint)
        SELECT owner, key, fingerprint FROM lock WHERE held
        ON CONFLICT (owner, key) DO UPDATE
            SET fingerprint = excluded.fingerprint, status_code = NULL, response = NULL, headers = NULL,
                created_at = now()
            WHERE idempotency_keys.created_at < now() - CAST(:lifetime AS interval)
        RETURNING owner, key
    )
    SELECT lock.held, claimed.key IS NOT NULL AS claimed, stored.fingerprint, stored.status_code,
        stored.response, stored.headers
    FROM lock
    LEFT JOIN claimed ON claimed.owner = lock.owner AND claimed.key = lock.key
    LEFT JOIN LATERAL (
        SELECT fingerprint, status_code, response, headers FROM idempotency_keys
        WHERE idempotency_keys.owner = lock.owner AND idempotency_keys.key = lock.key
        LIMIT 1
    ) AS stored ON true
    ORDER BY lock.n
    """
).columns(
    column("held", Boolean),
    column("claimed", Boolean),
    column("fingerprint", String),
    column("status_code", Integer),
    column("response", JSON),
    column("headers", JSON),
)


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("owner", String(200), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        # JSON, not JSONB: the text is kept as written, so the replayed body has the first one's key order.
        Column("response", JSON, nullable=True),
        Column("headers", JSON, nullable=True),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )


class IdempotencyKeyReused(Unprocessable):
    code, title = "idempotency-key-reused", "Idempotency-Key was used for a different request"


class IdempotentRequestInFlight(Conflict):
    code, title = "idempotent-request-in-flight", "A request with this Idempotency-Key is still running"


class _Response(JSONResponse):
    """A JSON answer rendered by orjson in a fraction of `json.dumps`'s time, in the bytes Starlette's own
    rendering gives (compact, UTF-8, keys in order, the same string escapes) but for a float's exponent
    (`1e-7`, not `1e-07`; the answers here carry money as strings); what orjson refuses (integers past 64
    bits, keys that are not strings) is rendered as Starlette does. A first answer and its replay render
    alike."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


def replayed_with(response: JSONResponse, body: Any) -> JSONResponse:
    """A replayed response with another body (a stored secret opened), keeping its status and headers."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _DERIVED | {"content-type"}}
    return _Response(body, status_code=response.status_code, headers=headers, media_type=response.media_type)


@dataclass
class Idempotency:
    """The request's idempotency handle; inert when the client sent no key. An unbound one (no session:
    `unbound_idempotency_dependency`) only names the key until `bound` gives it the session to claim it in."""

    table: Table
    session: AsyncSession | None
    owner: str
    key: str | None
    fingerprint: str
    lifetime: timedelta = field(default=DEFAULT_LIFETIME, kw_only=True)

    def _this_key(self) -> dict[str, Any]:
        return {"i_owner": self.owner, "i_key": self.key}

    def bound(self, session: AsyncSession) -> Idempotency:
        """This handle, claiming and recording its key in `session`'s transaction."""
        return replace(self, session=session)

    @property
    def _session(self) -> AsyncSession:
        if self.session is None:
            raise RuntimeError("an unbound Idempotency handle: bind it to the request's session first")
        return self.session

    async def replay(self) -> JSONResponse | None:
        """Claim the key, or return the stored response of the request that claimed it first."""
        if self.key is None:
            return None
        # An expired key is free again (the sweep deletes the others): the claim takes it over.
        held, claimed = (
            await self._session.execute(
                _CLAIM,
                {
                    "owner": self.owner,
                    "key": self.key,
                    "fingerprint": self.fingerprint,
                    "lifetime": self.lifetime,
                },
            )
        ).one()
        if not held:
            raise IdempotentRequestInFlight(
                f"the first request with the key {self.key!r} has not finished; retry after it has",
                headers={"Retry-After": "1"},
            )
        if claimed:
            return None
        row = (await self._session.execute(_statements(self.table).stored, self._this_key())).one()
        return self._stored(row.fingerprint, row.status_code, row.response, row.headers)

    def _stored(
        self, fingerprint: str, status_code: int | None, response: Any, stored_headers: Any
    ) -> JSONResponse:
        if fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(f"the key {self.key!r} was first used with a different request")
        if status_code is None:  # committed without an answer: a route that never called respond()
            raise IdempotentRequestInFlight()
        headers: dict[str, str] = dict(stored_headers or {})
        media_type = headers.pop("content-type", None)
        return _Response(
            response,
            status_code=status_code,
            headers={**headers, REPLAYED: "true"},
            media_type=media_type,
        )

    def _stored_form(
        self, status_code: int, content: Any, headers: Mapping[str, str] | None
    ) -> tuple[Any, dict[str, str], JSONResponse]:
        """The body and headers stored for a replay, and the response itself."""
        body = _json_body(content)
        response = _Response(body, status_code=status_code, headers=dict(headers or {}))
        return body, {k: v for k, v in response.headers.items() if k.lower() not in _DERIVED}, response

    async def record(self, status_code: int, content: Any, headers: Mapping[str, str] | None = None) -> None:
        """Store what a replay answers (in the same transaction as the effect)."""
        if self.key is None:
            return
        await self._session.execute(
            _statements(self.table).record,
            {
                **self._this_key(),
                "i_status": status_code,
                "i_response": content,
                "i_headers": _stored_headers(headers),
            },
        )

    async def respond(
        self, status_code: int, content: Any, headers: Mapping[str, str] | None = None
    ) -> JSONResponse:
        """The response, recorded against the key."""
        body = _json_body(content)
        await self.record(status_code, body, headers)
        return _Response(body, status_code=status_code, headers=dict(headers or {}))


def _json_body(content: Any) -> Any:
    """`content` as JSON values, as `jsonable_encoder` makes them. A pydantic model (a route's read schema,
    the usual answer) dumps itself in JSON mode by alias, as `jsonable_encoder` does first, without the
    second walk over the dumped values that it then takes (a tenth of a grouped write's CPU)."""
    if isinstance(content, BaseModel):
        return content.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(content)


async def replay_many(
    session: AsyncSession, handles: Sequence[Idempotency]
) -> list[JSONResponse | Problem | None]:
    """`replay` for many requests' keys in one round trip, in `session`'s transaction: for each, None when
    its key is claimed (or it has none), the stored response, or the problem `replay` would raise. The keys
    are distinct and of one table and lifetime (the handles of one service's requests)."""
    keyed = [h for h in handles if h.key is not None]
    if not keyed:
        return [None] * len(handles)
    rows = iter(
        (
            await session.execute(
                _CLAIM_MANY,
                {
                    "owners": [h.owner for h in keyed],
                    "keys": [h.key for h in keyed],
                    "fingerprints": [h.fingerprint for h in keyed],
                    "lifetime": keyed[0].lifetime,
                },
            )
        ).all()
    )
    answers: list[JSONResponse | Problem | None] = []
    for handle in handles:
        if handle.key is None:
            answers.append(None)
            continue
        row = next(rows)
        try:
            if not row.held:
                raise IdempotentRequestInFlight(
                    f"the first request with the key {handle.key!r} has not finished; retry after it has",
                    headers={"Retry-After": "1"},
                )
            if row.claimed:
                answers.append(None)
                continue
            if row.fingerprint is None:  # deleted since the conflict was seen: answered as in flight
                raise IdempotentRequestInFlight(headers={"Retry-After": "1"})
            answers.append(handle._stored(row.fingerprint, row.status_code, row.response, row.headers))
        except Problem as problem:
            answers.append(problem)
    return answers


async def respond_many(
    session: AsyncSession, answers: Sequence[tuple[Idempotency, int, Any, Mapping[str, str]]]
) -> list[JSONResponse]:
    """`respond` for many requests (handle, status, body, headers), the keyed ones recorded in one
    statement in `session`'s transaction."""
    responses: list[JSONResponse] = []
    records: list[dict[str, Any]] = []
    for handle, status_code, content, headers in answers:
        body, stored, response = handle._stored_form(status_code, content, headers)
        responses.append(response)
        if handle.key is not None:
            records.append(
                {
                    "b_owner": handle.owner,
                    "b_key": handle.key,
                    "b_status": status_code,
                    "b_response": body,
                    "b_headers": stored,
                }
            )
    if records:
        await session.execute(_statements(answers[0][0].table).record_many, records)
    return responses


async def release_many(session: AsyncSession, handles: Sequence[Idempotency]) -> None:
    """Free the keys claimed in `session`'s transaction, as rolling it back would (one statement)."""
    keyed = [h for h in handles if h.key is not None]
    if keyed:
        table = keyed[0].table
        await session.execute(
            delete(table).where(tuple_(table.c.owner, table.c.key).in_([(h.owner, h.key) for h in keyed]))
        )


IdempotencyFactory = Callable[[Request, AsyncSession, Principal], Coroutine[Any, Any, Idempotency]]


def replay_lifetime(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.idempotency_replay_seconds)


def checked_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
        raise BadRequest.field(HEADER, f"must be 1 to {MAX_KEY_LENGTH} printable characters")
    return key


def idempotency_dependency(table: Table) -> IdempotencyFactory:
    """A FastAPI dependency giving the request an `Idempotency` bound to the service's table and to the
    request's own session (FastAPI caches `DbSession` per request, so it is the handler's session)."""

    async def dependency(request: Request, session: DbSession, principal: CurrentPrincipal) -> Idempotency:
        return await _handle(request, table, session, principal)

    return dependency


def unbound_idempotency_dependency(
    table: Table,
) -> Callable[[Request, Principal], Coroutine[Any, Any, Idempotency]]:
    """Like `idempotency_dependency`, for a route that opens its session only when it needs one
    (`kit.db.request_session`; a grouped write's request is written in its group's): the handle is
    `bound` to a session there. No `DbSession`, whose creation and generator dependency were a tenth of
    a grouped write's CPU."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> Idempotency:
        return await _handle(request, table, None, principal)

    return dependency


async def _handle(
    request: Request, table: Table, session: AsyncSession | None, principal: Principal
) -> Idempotency:
    key = checked_key(request)
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
        lifetime=replay_lifetime(request),
    )


async def sweep_expired(session: AsyncSession, table: Table, lifetime: timedelta) -> int:
    """Delete the keys past their lifetime; returns how many."""
    result = await session.execute(delete(table).where(table.c.created_at < func.now() - lifetime))
    return int(getattr(result, "rowcount", 0) or 0)


def idempotency_sweep(table: Table) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan part: every `idempotency_sweep_seconds`, delete the service's expired keys (every
    replica may run it; the delete is idempotent)."""

    @contextlib.asynccontextmanager
    async def sweeping(app: FastAPI) -> AsyncIterator[None]:
        sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        lifetime = timedelta(seconds=app.state.settings.idempotency_replay_seconds)
        interval = float(app.state.settings.idempotency_sweep_seconds)

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    async with sessionmaker() as session, session.begin():
                        swept = await sweep_expired(session, table, lifetime)
                    if swept:
                        log.info("idempotency_keys_swept", count=swept)
                except Exception:  # a database blip must not end the sweep
                    log.exception("idempotency_sweep_failed")

        task = asyncio.create_task(loop(), name="idempotency-sweep")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return sweeping
