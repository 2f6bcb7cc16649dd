"""Database plumbing: engine, one session (and transaction) per request, migrations, readiness.

A service function never commits. The request's session dependency commits after the handler returns
and *before* the response is sent (`Depends(..., scope="function")`), so a failed commit is a 5xx rather
than a 200 for work that was lost.

Row-level security: every transaction of a session made here begins by naming, transaction-locally, the
partnerships whose rows it may touch (`effekt.partnerships`, read by the policies the services' migrations
create). A request names its verified caller's partnerships (kit/rows.py, bound by kit.auth);
background work that serves every partnership says so explicitly through `system_sessionmaker`; anything
else names none and sees no partnership's rows. See docs/operations.md, "Row-level security".
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import sqlalchemy.exc
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from kit.problems import ServiceUnavailable, Unprocessable, problem_response, unexpected_error
from kit.rows import EVERY, ORGANISATION_SETTING, PARTNERSHIPS_SETTING, RowContext, row_context

log = structlog.get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def metadata() -> MetaData:
    """A fresh MetaData with Effekt's constraint naming convention (one per service)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class DatabaseUnreachable(ConnectionError):
    """A new connection to the database could not be opened, whatever the operating system called it."""


# --- row-level security context ---------------------------------------------------------------------------

_ROW_CONTEXT_OPTION = "effekt_row_context"
# `SET LOCAL` takes no bind parameters; `set_config(..., true)` does, and lasts until the transaction ends,
# so a pooled connection never carries one request's partnerships into the next.
_SET_ROW_CONTEXT = text(
    f"SELECT set_config('{PARTNERSHIPS_SETTING}', :partnerships, true), "
    f"set_config('{ORGANISATION_SETTING}', :organisation, true)"
)
# What a row context may hold (kit/rows.py: ids, commas, `*`), so it can be written as SQL literals.
_CONTEXT_TEXT = re.compile(r"[0-9A-Za-z,*-]*")


def _row_context_sql(context: RowContext) -> str:
    for value in context:
        if not _CONTEXT_TEXT.fullmatch(value):
            raise ValueError(f"not a row context: {value!r}")
    return (
        f"SELECT set_config('{PARTNERSHIPS_SETTING}', '{context.partnerships}', true), "
        f"set_config('{ORGANISATION_SETTING}', '{context.organisation}', true);"
    )


class RowScopedConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """An asyncpg connection that names a transaction's row context in the same round trip as its BEGIN:
    asyncpg sends BEGIN as a simple query of its own, and a simple query may carry a second statement
    (without parameters, hence the checked literals). The session hands the context over as its
    transaction begins (`_name_partnerships`); SQLAlchemy sends the BEGIN lazily, with the transaction's
    first statement, and that BEGIN takes it. A context no BEGIN took is dropped when the connection goes
    back to the pool (`_forget_context`), so it never reaches another transaction."""

    _begin_with: str | None = None

    def name_next_transaction(self, context: RowContext | None) -> None:
        self._begin_with = None if context is None else _row_context_sql(context)

    async def execute(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - asyncpg's interface
    ) -> str:
        if args or not query.startswith("BEGIN"):
            return str(await super().execute(query, *args, timeout=timeout))
        suffix, self._begin_with = self._begin_with, None
        try:
            return str(
                await super().execute(query if suffix is None else f"{query} {suffix}", timeout=timeout)
            )
        except BaseException:
            # A BEGIN that failed or was cancelled (a client leaving a stream): asyncpg's Transaction.start
            # made that transaction the connection's top one before sending it and never unmakes it, so
            # every later transaction on this connection would start as a SAVEPOINT outside any block.
            # Forget it and end whatever began; a connection that cannot is closed, and the pool drops it.
            self._top_xact = None
            if not self.is_closed() and self.is_in_transaction():
                try:
                    await super().execute("ROLLBACK;")
                except BaseException:
                    self.terminate()
                    raise
            raise


class RowScopedSession(Session):
    """A session whose every transaction first names its partnerships (transaction-locally)."""


@event.listens_for(RowScopedSession, "after_begin")
def _name_partnerships(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    context: RowContext = connection.get_execution_options().get(_ROW_CONTEXT_OPTION, row_context())
    driver = connection.connection.driver_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN with the transaction's first statement (and tracks the
    # transaction only once BEGIN succeeded): that BEGIN carries the context, one round trip. Code that
    # uses the driver connection directly (the feed) runs a statement through the session first.
    begun = getattr(connection.connection.dbapi_connection, "_transaction", None) is not None
    if isinstance(driver, RowScopedConnection) and not begun:
        driver.name_next_transaction(context)
        return
    connection.execute(_SET_ROW_CONTEXT, context._asdict())


_BEGIN = text("SELECT 1")


async def driver_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection, inside its transaction (begun, with its row context, when no
    statement has begun it yet): for reads too large for SQLAlchemy's row processing."""
    raw = await (await session.connection()).get_raw_connection()
    if getattr(raw.dbapi_connection, "_transaction", None) is None:
        await session.execute(_BEGIN)
    return raw.driver_connection


def _forget_context(dbapi_connection: Any, _record: Any) -> None:
    driver = getattr(dbapi_connection, "driver_connection", None)
    if isinstance(driver, RowScopedConnection):
        driver.name_next_transaction(None)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """No pre-ping: with asyncpg it is a BEGIN and a ROLLBACK before every checkout, two round trips that
    made up half of a small read's time. A connection that died (a database restart or failover) fails
    the one request using it, which gets a 503 with Retry-After (`is_transient`); SQLAlchemy then drops
    every pooled connection older than that failure. Recycling bounds a connection's age for proxies and
    firewalls that cut idle ones. The pool is SQLAlchemy's, not asyncpg's (whose release resets a
    connection in a round trip): its reset on return is a rollback that SQLAlchemy's asyncpg adapter sends
    only while a transaction is open, and every session here has ended its own by then, so a release costs
    nothing and the reset stays on for the connection whose session did not."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args={
            # JIT off: it compiled one large set statement (a bulk file's) for seconds, and these
            # services' statements are short ones it never pays off on.
            "server_settings": {"timezone": "UTC", "application_name": "effekt", "jit": "off"},
            "connection_class": RowScopedConnection,
        },
    )
    event.listen(engine.sync_engine, "do_connect", _connect)
    event.listen(engine.sync_engine, "checkin", _forget_context)
    return engine


def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Open a connection; any OS error while opening it is `DatabaseUnreachable` (so a 503). A server
    that is down is a refused TCP connection, but on a Unix socket it is a missing socket file
    (`FileNotFoundError`), and a connect that hangs is a `TimeoutError`: none is a `ConnectionError`, and
    each was a 500 while PostgreSQL restarted (tests/test_faults.py)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise DatabaseUnreachable(exc.errno, f"cannot connect to the database: {exc}") from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to the current task's partnerships (kit/rows.py): a request's, its caller's."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=RowScopedSession
    )


def system_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for background work that serves every partnership (an outbox, a dispatcher, a compactor,
    a change-log reader): their transactions name every partnership, whatever task opens them. Only the
    code listed in docs/operations.md ("Row-level security") may use it; a request never does."""
    return create_sessionmaker(engine.execution_options(**{_ROW_CONTEXT_OPTION: EVERY}))


@asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session of the request's; commits when the block succeeds, rolls back otherwise. For a route that
    needs one only on some paths (a grouped write's request is written in its group's session): it opens
    it there, and the block's end, before the route returns, is the commit that `DbSession` would make."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            # A session the handler never used has nothing to commit, and committing it would still begin
            # and end a transaction.
            if session.in_transaction() or session.new or session.dirty or session.deleted:
                await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; commits when the handler succeeds, rolls back otherwise."""
    async with request_session(request) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


# --- migrations -------------------------------------------------------------------------------------------


def alembic_config(ini_path: Path, database_url: str) -> Config:
    config = Config(str(ini_path))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade_to_head(ini_path: Path, database_url: str) -> None:
    """Run `alembic upgrade head` (in a thread: alembic's command API is synchronous)."""
    config = alembic_config(ini_path, database_url)
    await asyncio.to_thread(command.upgrade, config, "head")


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def migrations_at_head(engine: AsyncEngine, ini_path: Path) -> bool:
    script = ScriptDirectory.from_config(Config(str(ini_path)))
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_heads)
    return current == set(script.get_heads())


async def ensure_database(database_url: str) -> None:
    """Create the URL's database if it does not exist (development convenience; needs CREATEDB)."""
    url = make_url(database_url)
    name = url.database
    admin = url.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


_ROLE_BYPASS = text(
    """
    SELECT r.rolname, r.rolsuper, r.rolbypassrls,
           (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relowner = r.oid) AS owned,
           (SELECT d.datdba = r.oid FROM pg_database d WHERE d.datname = current_database()) AS owns_database
    FROM pg_roles r WHERE r.rolname = current_user
    """
)


async def row_security_bypass(engine: AsyncEngine) -> list[str]:
    """Why the engine's role would slip past the row policies: a superuser, `BYPASSRLS`, or an owner (of
    a table, which the policies do not bind, or of the database, whose tables its migrations create);
    empty when they bind it."""
    async with engine.connect() as conn:
        role, superuser, bypass, owned, owns_database = (await conn.execute(_ROLE_BYPASS)).one()
    reasons = []
    if superuser:
        reasons.append(f"{role} is a superuser")
    if bypass:
        reasons.append(f"{role} has BYPASSRLS")
    if owned:
        reasons.append(f"{role} owns {owned} of the schema's tables")
    if owns_database:
        reasons.append(f"{role} owns the database")
    return reasons


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# --- transient database failures ----------------------------------------------------------------------------

# Connection failures (08…), too many connections (53300), starting up / shutting down (57P01-57P03), and
# the retryable concurrency failures (serialization 40001, deadlock 40P01): the client should retry.
_TRANSIENT_SQLSTATES = ("08", "53300", "57P01", "57P02", "57P03", "40001", "40P01")
# Text the database cannot store (a NUL character, 22021; untranslatable, 22P05): the schemas refuse it
# (kit.text), and this catches what slips past them as the client's error rather than a 500.
_UNSTORABLE_TEXT_SQLSTATES = ("22021", "22P05")


def _sqlstates(exc: BaseException) -> Iterator[str]:
    cause: BaseException | None = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    while cause is not None:
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(sqlstate, str):
            yield sqlstate
        cause = cause.__cause__


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # the pool had no connection to lend in time
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated or any(s.startswith(_TRANSIENT_SQLSTATES) for s in _sqlstates(exc)):
            return True
        cause: BaseException | None = exc.orig
        while cause is not None:
            if isinstance(cause, ConnectionError):
                return True
            cause = cause.__cause__
    return isinstance(exc, ConnectionError | asyncpg.exceptions.TooManyConnectionsError)


def install_transient_failure_handler(app: FastAPI) -> None:
    """A database that is briefly unreachable or overloaded is a 503 with Retry-After, not a 500."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        if any(state in _UNSTORABLE_TEXT_SQLSTATES for state in _sqlstates(exc)):
            unstorable = Unprocessable("the request holds text the database cannot store")
            return problem_response(unstorable, request)
        if not is_transient(exc):
            return await unexpected_error(request, exc)
        log.warning("database_unavailable", error=type(exc).__name__, path=request.url.path)
        problem = ServiceUnavailable(
            "The database is briefly unavailable; retry shortly.", headers={"Retry-After": "1"}
        )
        return problem_response(problem, request)

    for exc_type in (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError, ConnectionError):
        app.add_exception_handler(exc_type, handler)
