"""Which database failures are transient (503, retry) rather than bugs (500)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
import sqlalchemy.exc

from kit.db import DatabaseUnreachable, RowScopedConnection, create_engine, is_transient, ping


class FakePgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def dbapi_error(orig: BaseException, *, invalidated: bool = False) -> sqlalchemy.exc.DBAPIError:
    return sqlalchemy.exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize("sqlstate", ["53300", "08006", "57P01", "40001", "40P01"])
def test_overload_lost_connections_and_retryable_conflicts_are_transient(sqlstate: str) -> None:
    assert is_transient(dbapi_error(FakePgError(sqlstate)))


@pytest.mark.parametrize("sqlstate", ["23505", "42P01", "22003"])
def test_constraint_schema_and_data_errors_are_not(sqlstate: str) -> None:
    assert not is_transient(dbapi_error(FakePgError(sqlstate)))


def test_pool_timeouts_refused_connections_and_invalidated_connections_are_transient() -> None:
    assert is_transient(sqlalchemy.exc.TimeoutError())
    assert is_transient(ConnectionRefusedError())
    assert is_transient(dbapi_error(ValueError("gone"), invalidated=True))


def test_a_programming_error_is_not_transient() -> None:
    assert not is_transient(KeyError("password_hash"))
    assert not is_transient(FileNotFoundError("alembic.ini"))


async def test_a_database_down_on_a_unix_socket_is_unreachable_and_transient(tmp_path: Path) -> None:
    # A stopped server leaves no socket file: the OS says "no such file", not "connection refused".
    engine = create_engine(f"postgresql+asyncpg://postgres@/postgres?host={tmp_path}")
    try:
        with pytest.raises(DatabaseUnreachable) as raised:
            await ping(engine)
    finally:
        await engine.dispose()
    assert isinstance(raised.value.__cause__, FileNotFoundError)
    assert is_transient(raised.value)


async def test_a_failed_begin_leaves_the_connection_fit_for_the_next_transaction(pg_server_url: str) -> None:
    """asyncpg keeps a transaction whose BEGIN failed (or was cancelled, as when a client leaves a stream)
    as the connection's top one, so the next would be a SAVEPOINT outside any block; the row-scoped
    connection forgets it, and the next transaction begins as one."""
    connection = await asyncpg.connect(
        pg_server_url, database="postgres", connection_class=RowScopedConnection
    )
    try:
        connection._begin_with = "SELECT 1 / 0;"  # the BEGIN's round trip fails after BEGIN ran
        with pytest.raises(asyncpg.DivisionByZeroError):
            await connection.transaction().start()
        assert not connection.is_in_transaction()
        async with connection.transaction():
            assert await connection.fetchval("SELECT txid_current_if_assigned() IS NULL")
            assert connection.is_in_transaction()
        assert not connection.is_in_transaction()
    finally:
        await connection.close()
