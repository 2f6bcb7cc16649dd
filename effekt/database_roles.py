"""The runtime roles the services connect as: one per service database, owning nothing.

Row-level security binds every role but superusers, `BYPASSRLS` roles and the tables' owner, so the
services must not connect as the role that migrates. Here, with the server's administrative connection,
each service database gets a login role `<database>_app`: no superuser, no `BYPASSRLS`, no `CREATEDB` or
`CREATEROLE`, and a fresh password each start. The migration (as the owner) grants it row access to every
table (kit/migrations.py). Used by `effekt up` and the disposable test platform; production creates its
roles once (deploy/, docs/operations.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import quote, urlparse, urlunparse

import asyncpg

from effekt.embedded_pg import asyncpg_url


def runtime_role(database: str) -> str:
    return f"{database}_app"


def _with_credentials(server_url: str, user: str, password: str) -> str:
    parsed = urlparse(server_url)
    host = parsed.hostname or ""
    netloc = f"{quote(user)}:{quote(password)}@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _may_create_roles(conn: asyncpg.Connection) -> bool:
    row = await conn.fetchrow("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    return bool(row and (row["rolsuper"] or row["rolcreaterole"]))


async def ensure_runtime_roles(admin_url: str, databases: Mapping[str, str]) -> dict[str, str] | None:
    """For each service's database (service -> database name) its runtime role, created or re-keyed;
    returns service -> the runtime role's SQLAlchemy URL, or None when the administrative role may not
    create roles (the services then connect as it, and say that the row policies do not bind them)."""
    conn = await asyncpg.connect(admin_url)
    try:
        if not await _may_create_roles(conn):
            return None
        urls: dict[str, str] = {}
        for service, database in databases.items():
            role, password = runtime_role(database), secrets.token_urlsafe(24)
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            # Utility statements take no bind parameters; the password is URL-safe base64, never quoted.
            await conn.execute(
                f"{verb} ROLE {_identifier(role)} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                f"NOINHERIT PASSWORD '{password}'"
            )
            urls[service] = asyncpg_url(_with_credentials(admin_url, role, password), database)
        return urls
    finally:
        await conn.close()


async def drop_runtime_roles(admin_url: str, databases: Mapping[str, str]) -> None:
    """Drop the roles `ensure_runtime_roles` made (after their databases: a role with grants in one
    cannot be dropped)."""
    conn = await asyncpg.connect(admin_url)
    try:
        for database in databases.values():
            await conn.execute(f"DROP ROLE IF EXISTS {_identifier(runtime_role(database))}")
    finally:
        await conn.close()
