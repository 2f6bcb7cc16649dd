"""The body of every service's alembic `env.py`: async engine, online/offline, compare types.

A service's `env.py` is three lines: import its models' metadata and its settings, call `run_migrations`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _configure(connection: Connection | None, target_metadata: MetaData, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        literal_binds=connection is None,
    )


def _run_sync(connection: Connection, target_metadata: MetaData) -> None:
    _configure(connection, target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, target_metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync, target_metadata)
    await engine.dispose()


def run_migrations(target_metadata: MetaData, default_url: str) -> None:
    """Run alembic against `sqlalchemy.url` from the config, else the service's configured URL."""
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
    asyncio.run(_run_online(url, target_metadata))
