"""What row-level security costs on a hot path: reading one outcome claim, with the policies and without.

`python -m bench.row_security [--reads N] [--rounds R]` starts the disposable platform, fills one
partnership (a signed contract, participants enrolled, confirmed and claimed), then measures, in
alternating rounds so that the machine's drift falls on both sides alike:

- **HTTP**: `GET /v1/outcome-claims/{id}` (token verification, the `readable_claims` query, the response)
  against the platform's outcome service, connected as its runtime role (the policies bind it, and each
  transaction first names its partnerships), and against a second outcome process on the same database
  connected as the tables' owner (the policies bind nothing);
- **SQL**: the same read straight through asyncpg, as one transaction: as the runtime role with
  `set_config` and the policies, and as the owner without either.

It prints the median and the 95th percentile per read for each, and the difference. Results vary with the
machine; docs/benchmarks.md keeps a run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast
from effekt.sandbox.directory import close_clients
from effekt.sandbox.http import expect
from effekt.sandbox.identifiers import synthetic_cpr
from effekt.sandbox.platform import free_port, postgres_server, running_platform
from effekt.sandbox.terms import standard_terms

# The query `readable_claims` issues for a provider reading one claim (services/outcomes/access.py).
_CLAIM_READ = (
    "SELECT c.* FROM outcome_claims c JOIN LATERAL (SELECT p.* FROM participants p "
    "WHERE p.id = c.participant_id AND p.partnership_id = $1 OFFSET 0) AS p ON true WHERE c.id = $2"
)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid4().hex}


async def _fill(platform: Platform, cast: Cast, people: int) -> list[str]:
    """One partnership with `people` participants, each with a claimed job start: the claim ids."""
    today = datetime.now(UTC).date()
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=60) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=60) as outcomes,
    ):
        created = expect(
            await contracts.post(
                "/v1/contracts",
                json={
                    "partnership_id": str(cast.partnership_id),
                    "terms": standard_terms(cast.parties, today=today),
                },
                headers=cast.provider.headers | _key(),
            )
        )
        version_id = created["versions"][0]["id"]
        proposed = expect(
            await contracts.post(
                f"/v1/contract-versions/{version_id}/proposal", headers=cast.provider.headers | _key()
            )
        )
        for signer in (cast.payer_a, cast.payer_b, cast.provider):
            expect(
                await contracts.post(
                    f"/v1/contract-versions/{version_id}/signatures",
                    json={"content_hash": proposed["content_hash"]},
                    headers=signer.headers | _key(),
                )
            )
        claims = []
        for n in range(people):
            person = expect(
                await outcomes.post(
                    "/v1/participants",
                    json={
                        "partnership_id": str(cast.partnership_id),
                        "contract_id": created["id"],
                        "cpr": synthetic_cpr(n),
                        "municipality_code": "657",
                        "enrolment_date": (today - timedelta(days=30)).isoformat(),
                    },
                    headers=cast.provider.headers | _key(),
                )
            )
            expect(
                await outcomes.post(
                    f"/v1/participants/{person['id']}/eligibility-confirmation",
                    headers=cast.payer_a.headers | _key(),
                )
            )
            made = expect(
                await outcomes.post(
                    "/v1/outcome-claims",
                    json={
                        "participant_id": person["id"],
                        "outcome_code": "job_start",
                        "achievement_date": (today - timedelta(days=5)).isoformat(),
                        "evidence_reference": "eIndkomst extract",
                    },
                    headers=cast.provider.headers | _key(),
                )
            )
            claims.append(str(made["id"]))
        return claims


def _summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


async def measure(
    platform: Platform, log_dir: Path, *, reads: int, rounds: int, people: int
) -> dict[str, Any]:
    cast = await make_cast(platform)
    claims = await _fill(platform, cast, people)
    owner_url: str = platform.database_urls["outcomes"]  # type: ignore[attr-defined]
    runtime_url: str = platform.runtime_database_urls["outcomes"]  # type: ignore[attr-defined]
    # A second outcome process on the same database, connected as the owner: the policies bind nothing.
    unbound = Platform(
        ports={**platform.ports, "outcomes": free_port()},
        env={
            **platform.env,
            "OUTCOMES_DATABASE_URL": owner_url,
            "OUTCOMES_MIGRATE_ON_START": "false",
            "OUTCOMES_WEBHOOK_DISPATCHER": "false",
        },
        log_dir=log_dir / "unbound",
        services=tuple(s for s in platform.services if s.name == "outcomes"),
    )
    unbound.start()
    try:
        unbound.wait_ready(timeout=120)
        http = {"with RLS": platform.url("outcomes"), "without RLS": unbound.url("outcomes")}
        sql = {"with RLS": runtime_url, "without RLS": owner_url}
        results: dict[str, dict[str, list[float]]] = {
            "http": {k: [] for k in http},
            "sql": {k: [] for k in sql},
        }
        connections = {k: await asyncpg.connect(url.replace("+asyncpg", "")) for k, url in sql.items()}
        clients = {
            k: httpx.AsyncClient(base_url=url, timeout=30, headers=cast.provider.headers)
            for k, url in http.items()
        }
        try:
            partnership = cast.partnership_id
            for warm in range(2):  # warm both sides: connections, prepared statements, caches
                del warm
                for name in http:
                    for claim_id in claims:
                        expect(await clients[name].get(f"/v1/outcome-claims/{claim_id}"))
                        await _sql_read(connections[name], name, partnership, claim_id)
            for _ in range(rounds):
                for name in http:
                    for i in range(reads):
                        started = time.perf_counter()
                        await _http_read(clients[name], claims[i % len(claims)])
                        results["http"][name].append(time.perf_counter() - started)
                    for i in range(reads):
                        started = time.perf_counter()
                        await _sql_read(connections[name], name, partnership, claims[i % len(claims)])
                        results["sql"][name].append(time.perf_counter() - started)
        finally:
            for client in clients.values():
                await client.aclose()
            for connection in connections.values():
                await connection.close()
    finally:
        unbound.stop()
        await close_clients()
    return {
        layer: {name: _summary(samples) for name, samples in by_name.items()}
        for layer, by_name in results.items()
    }


async def _http_read(client: httpx.AsyncClient, claim_id: str) -> None:
    response = await client.get(f"/v1/outcome-claims/{claim_id}")
    assert response.status_code == 200, response.text


async def _sql_read(conn: asyncpg.Connection, name: str, partnership: Any, claim_id: str) -> None:
    async with conn.transaction():
        if name == "with RLS":
            await conn.execute("SELECT set_config('effekt.partnerships', $1, true)", str(partnership))
        row = await conn.fetchrow(_CLAIM_READ, partnership, claim_id)
    assert row is not None


def report(results: dict[str, Any], *, reads: int, rounds: int) -> str:
    lines = [f"{reads * rounds} reads per side, in {rounds} alternating rounds", ""]
    lines.append("| layer | with RLS median / p95 (ms) | without RLS median / p95 (ms) | median difference |")
    lines.append("|---|---|---|---|")
    for layer, by_name in results.items():
        (on_median, on_p95), (off_median, off_p95) = by_name["with RLS"], by_name["without RLS"]
        lines.append(
            f"| {layer} | {on_median:.3f} / {on_p95:.3f} | {off_median:.3f} / {off_p95:.3f} | "
            f"{on_median - off_median:+.3f} ms ({(on_median / off_median - 1) * 100:+.0f} %) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.row_security", description=__doc__)
    parser.add_argument("--reads", type=int, default=200, help="reads per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--people", type=int, default=20, help="participants (and claims) to read among")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="effekt-rls-bench-") as work:
        work_dir = Path(work)
        with postgres_server(work_dir) as server, running_platform(server, work_dir / "logs") as platform:
            results = asyncio.run(
                measure(platform, work_dir / "logs", reads=args.reads, rounds=args.rounds, people=args.people)
            )
    print(report(results, reads=args.reads, rounds=args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
