"""`effekt up`, `effekt token` and `effekt migrate`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from effekt.credentials import OPERATOR_FILE, NoCredentials, mint_token, operator_credentials
from effekt.database_roles import ensure_runtime_roles, runtime_role
from effekt.embedded_pg import EmbeddedPostgres, asyncpg_url
from effekt.launcher import DATABASE_SERVICES, SERVICES, Platform, migrate, platform_env, taken_ports


def _step(message: str) -> None:
    print(f"  • {message}", flush=True)


async def _create_databases(database_urls: dict[str, str]) -> None:
    from kit.db import ensure_database

    for url in database_urls.values():
        await ensure_database(url)


def _database_urls(server_url: str, prefix: str) -> dict[str, str]:
    return {s.name: asyncpg_url(server_url, f"{prefix}_{s.name}") for s in DATABASE_SERVICES}


def _runtime_roles(server_url: str, database_urls: dict[str, str]) -> dict[str, str]:
    """The services connect as runtime roles the row policies bind, and migrate as the server's user
    (effekt/database_roles.py); a server user that may not create roles leaves them connecting as itself."""
    databases = {service: str(make_url(url).database) for service, url in database_urls.items()}
    admin = asyncpg_url(server_url, "postgres").replace("+asyncpg", "")
    runtime = asyncio.run(ensure_runtime_roles(admin, databases))
    if runtime is None:
        print(
            "  the server's user may not create roles: the services connect as it, and row-level "
            "security does not bind them (docs/operations.md)",
            file=sys.stderr,
        )
        return database_urls
    _step(f"the services connect as {', '.join(runtime_role(d) for d in databases.values())}")
    return runtime


def up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    print("Starting Effekt", flush=True)
    ports = {s.name: s.port - 8000 + args.base_port for s in SERVICES}
    if taken := taken_ports(args.host, ports):
        listed = ", ".join(f"{name} {args.host}:{port}" for name, port in taken.items())
        print(
            f"  ports already in use: {listed}. Is Effekt already running? Stop it, or pick other ports "
            "with --base-port.",
            file=sys.stderr,
        )
        return 1
    embedded: EmbeddedPostgres | None = None
    server_url = args.database_url or os.environ.get("EFFEKT_DATABASE_URL")
    if server_url:
        _step(f"using the PostgreSQL server at {server_url.split('@')[-1]}")
    else:
        _step(f"starting the embedded PostgreSQL 16 (data in {data_dir / 'postgres'})")
        embedded = EmbeddedPostgres(data_dir / "postgres")
        server_url = embedded.start()
    platform: Platform | None = None
    try:
        database_urls = _database_urls(server_url, args.database_prefix)
        names = ", ".join(str(make_url(url).database) for url in database_urls.values())
        _step(f"creating the databases if they are new: {names}")
        asyncio.run(_create_databases(database_urls))
        runtime_urls = _runtime_roles(server_url, database_urls)
        # The first operator: identity ensures (and re-keys) this client on start, and the seed acts as it.
        # Its secret is made once and kept in .effekt/operator.json, so what copied it keeps working.
        operator = operator_credentials(data_dir, f"http://{args.host}:{ports['identity']}")
        bootstrap = {
            "IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID": operator[0],
            "IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_SECRET": operator[1],
        }
        bootstrap["GATEWAY_GRAPHIQL_DEMO_FILE"] = str(data_dir / "demo.json")  # GraphiQL's demo picker
        env = platform_env(
            ports=ports,
            database_urls=runtime_urls,
            migration_urls=database_urls,
            host=args.host,
            extra=bootstrap,
        )
        platform = Platform(ports=ports, env=env, log_dir=data_dir / "logs", host=args.host)
        _step("starting identity, contracts, outcomes and the gateway (migrating each database to head)")
        platform.start()
        platform.wait_ready(timeout=120, on_ready=lambda name: _step(f"{name} is ready"))
        print("\nEffekt is running:", flush=True)
        print(f"  GraphiQL           {platform.url('gateway')}/graphql")
        for name in ("identity", "contracts", "outcomes"):
            print(f"  {name:<18} {platform.url(name)}/docs")
        print(f"  logs               {data_dir / 'logs'}")
        print(f"  operator client    {operator[0]}  secret {operator[1]}")
        print(f"                     (also in {data_dir / OPERATOR_FILE}; docs/identity.md)")
        if not args.no_seed:
            _seed(platform, data_dir)
        print("\nPress Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(1.0):
            dead = [k for k, p in platform.processes.items() if p.poll() is not None]
            if dead:
                print(f"\n{', '.join(dead)} stopped unexpectedly; see {data_dir / 'logs'}", file=sys.stderr)
                return 1
        print("\nStopping…", flush=True)
        return 0
    finally:
        if platform is not None:
            platform.stop()
        if embedded is not None:
            embedded.stop()
        print("Stopped.", flush=True)


def _seed(platform: Platform, data_dir: Path) -> None:
    from effekt.sandbox.http import Refused
    from effekt.seed import describe, seed

    _step("seeding the demo partnership (skip with --no-seed)")
    try:
        tokens = seed(platform, data_dir)
    except (Refused, httpx.HTTPError) as exc:
        print(f"  the demo seed failed ({exc}); the platform runs without it", file=sys.stderr, flush=True)
        return
    print(describe(tokens, platform.url("gateway"), data_dir / "demo-tokens.json"), flush=True)


def token_command(args: argparse.Namespace) -> int:
    """Print a fresh access token for a demo user or the operator (effekt/credentials.py)."""
    try:
        print(mint_token(Path(args.data_dir).resolve(), args.who))
    except (NoCredentials, httpx.HTTPError) as exc:
        print(f"effekt token: {exc}", file=sys.stderr)
        return 1
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    """Upgrade each service's database as its owner, `<PREFIX>MIGRATION_DATABASE_URL` (else
    `<PREFIX>DATABASE_URL`), and grant the runtime role of `<PREFIX>DATABASE_URL` its rows (production's
    explicit step)."""
    chosen = [s for s in DATABASE_SERVICES if args.service in ("all", s.name)]
    for service in chosen:
        p = service.env_prefix
        url = os.environ.get(f"{p}MIGRATION_DATABASE_URL") or os.environ.get(f"{p}DATABASE_URL")
        if not url:
            print(f"{p}MIGRATION_DATABASE_URL (or {p}DATABASE_URL) is not set", file=sys.stderr)
            return 2
        print(f"migrating {service.name}", flush=True)
        migrate(service, url)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="effekt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("up", help="run the whole platform locally")
    run.add_argument("--data-dir", default=os.environ.get("EFFEKT_DATA_DIR", ".effekt"))
    run.add_argument("--database-url", help="an external PostgreSQL server (postgresql://user@host:port)")
    run.add_argument("--database-prefix", default="effekt")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument(
        "--base-port", type=int, default=8000, help="gateway here, identity +1, contracts +2, outcomes +3"
    )
    run.add_argument("--no-seed", action="store_true", help="do not create the demo partnership")
    run.set_defaults(func=up)
    token = commands.add_parser(
        "token", help="print a fresh access token for a demo user or the operator (after `effekt up`)"
    )
    token.add_argument("--as", dest="who", required=True, help="operator, herning, provider, investor, ...")
    token.add_argument("--data-dir", default=os.environ.get("EFFEKT_DATA_DIR", ".effekt"))
    token.set_defaults(func=token_command)
    mig = commands.add_parser("migrate", help="upgrade the services' databases to the latest migration")
    mig.add_argument(
        "service", nargs="?", default="all", choices=["all", *(s.name for s in DATABASE_SERVICES)]
    )
    mig.set_defaults(func=migrate_command)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
