"""The body of every service's alembic `env.py`: async engine, online/offline, compare types.

A service's `env.py` is a few lines: import its models' metadata and its settings, call `run_migrations`.
Migrations run as the role that owns the tables (`<PREFIX>MIGRATION_DATABASE_URL`); the service itself
connects as a runtime role (`<PREFIX>DATABASE_URL`) that owns nothing, so the row policies bind it. After
upgrading, the owner grants that role what it may do with every table: read and write rows, never change
the schema; on append-only tables only read and insert; on `alembic_version` only read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from alembic import context
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine


class MissingRuntimeRole(RuntimeError):
    """The runtime role named by the service's database URL does not exist (a DBA creates it)."""


def grant_runtime_role(connection: Connection, role: str, *, append_only: Collection[str] = ()) -> None:
    """Give `role` row access to every table and sequence of the schema (idempotent)."""
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        raise MissingRuntimeRole(
            f"the runtime role {role!r} does not exist: create it (LOGIN, NOSUPERUSER, NOBYPASSRLS) before "
            "migrating; docs/operations.md, Row-level security"
        )
    quote = connection.dialect.identifier_preparer.quote
    who, database = quote(role), quote(str(connection.execute(text("SELECT current_database()")).scalar()))
    for statement in (
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {who}",
        *(f"REVOKE UPDATE, DELETE ON {quote(table)} FROM {who}" for table in sorted(append_only)),
    ):
        connection.execute(text(statement))


def _grant_after_upgrade(
    connection: Connection, runtime_url: str | None, append_only: Collection[str]
) -> None:
    if runtime_url is None:
        return
    role = make_url(runtime_url).username
    owner = connection.execute(text("SELECT current_user")).scalar()
    if role and role != owner:
        grant_runtime_role(connection, role, append_only=append_only)


def _configure(connection: Connection | None, target_metadata: MetaData, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        literal_binds=connection is None,
    )


def _run_sync(
    connection: Connection,
    target_metadata: MetaData,
    runtime_url: str | None = None,
    append_only: Collection[str] = (),
) -> None:
    _configure(connection, target_metadata)
    with context.begin_transaction():
        context.run_migrations()
        _grant_after_upgrade(connection, runtime_url, append_only)


async def _run_online(
    url: str, target_metadata: MetaData, runtime_url: str | None, append_only: Collection[str]
) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, target_metadata, runtime_url, append_only)
    await engine.dispose()


def run_migrations(
    target_metadata: MetaData,
    default_url: str,
    *,
    runtime_url: str | None = None,
    append_only: Collection[str] = (),
) -> None:
    """Run alembic against `sqlalchemy.url` from the config, else the service's configured (migration)
    URL; then grant the runtime role of `runtime_url`, when it is not the migrating role, its rows."""
    url = context.config.get_main_option("sqlalchemy.url") or default_url
    if context.is_offline_mode():
        _configure(None, target_metadata, url)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection, target_metadata)
        return
    asyncio.run(_run_online(url, target_metadata, runtime_url, append_only))
