"""A service whose database connections are cut (a restart, a failover) answers the request that meets a
dead connection with a 503 and Retry-After, never a 500, and serves the next ones on fresh connections."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast
from effekt.sandbox.http import new_client


async def _cut_connections(database_url: str) -> int:
    """Terminate every other session on the service's database, as a restart would."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            cut = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return len(cut.all())
    finally:
        await engine.dispose()


async def test_a_cut_connection_is_a_503_at_worst_and_the_pool_recovers(
    platform: Platform, cast: Cast
) -> None:
    async with new_client(base_url=platform.url("contracts"), headers=cast.provider.headers) as client:
        path = f"/v1/contracts?partnership_id={cast.partnership_id}"
        assert (await client.get(path)).status_code == 200  # the pool holds a connection now
        assert await _cut_connections(platform.database_urls["contracts"]) >= 1  # type: ignore[attr-defined]
        answers = [await client.get(path) for _ in range(4)]
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503}, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["retry-after"]
    assert statuses[1:] == [200, 200, 200], statuses
