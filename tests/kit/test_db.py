"""Which database failures are transient (503, retry) rather than bugs (500)."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from kit.db import is_transient


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
