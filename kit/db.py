"""Database plumbing: engine, one session (and transaction) per request, migrations, readiness.

A service function never commits. The request's session dependency commits after the handler returns
and *before* the response is sent (`Depends(..., scope="function")`), so a failed commit is a 5xx rather
than a 200 for work that was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

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


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "effekt"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; commits when the handler succeeds, rolls back otherwise."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


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


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
