"""Start, watch and stop the platform's four processes (each an uvicorn server, started by import string)."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx


@dataclass(frozen=True)
class Service:
    name: str
    target: str  # "module:factory"
    port: int
    env_prefix: str
    has_database: bool = True

    @property
    def alembic_ini(self) -> Path:
        spec = importlib.util.find_spec(f"services.{self.name}")
        if spec is None or spec.origin is None:
            raise LookupError(f"services.{self.name} is not installed")
        return Path(spec.origin).with_name("alembic.ini")


SERVICES = (
    Service("identity", "services.identity.app:create_app", 8001, "IDENTITY_"),
    Service("contracts", "services.contracts.app:create_app", 8002, "CONTRACTS_"),
    Service("outcomes", "services.outcomes.app:create_app", 8003, "OUTCOMES_"),
    Service("gateway", "gateway.app:create_app", 8000, "GATEWAY_", has_database=False),
)
DATABASE_SERVICES = tuple(s for s in SERVICES if s.has_database)


def platform_env(
    *,
    ports: Mapping[str, int],
    database_urls: Mapping[str, str],
    migration_urls: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    environment: str = "development",
    extra: Mapping[str, str] | None = None,
    revocation_poll_seconds: float | None = None,
) -> dict[str, str]:
    """One environment for every process: each reads only the variables with its own prefix.

    `database_urls` are what the services connect as (their runtime roles, effekt/database_roles.py);
    `migration_urls`, when given, what they migrate as on start (the tables' owner).

        Each process but identity gets a client of its own for identity's revocation list, with a secret made
        for this run; identity gets them all (`IDENTITY_REVOCATION_READERS`) and ensures them on start-up."""
    url = {name: f"http://{host}:{port}" for name, port in ports.items()}
    env: dict[str, str] = {}
    readers: dict[str, str] = {}
    for service in SERVICES:
        p = service.env_prefix
        env[f"{p}ENVIRONMENT"] = environment
        env[f"{p}ISSUER"] = url["identity"]
        env[f"{p}JWKS_URL"] = f"{url['identity']}/jwks.json"
        if service.name in database_urls:
            env[f"{p}DATABASE_URL"] = database_urls[service.name]
        if migration_urls and service.name in migration_urls:
            env[f"{p}MIGRATION_DATABASE_URL"] = migration_urls[service.name]
        for other in ("identity", "contracts", "outcomes"):
            if other != service.name:
                env[f"{p}{other.upper()}_URL"] = url[other]
        if service.name != "identity":
            client_id, secret = f"effekt-{service.name}", secrets.token_urlsafe(32)
            readers[client_id] = secret
            env[f"{p}REVOCATIONS_CLIENT_ID"] = client_id
            env[f"{p}REVOCATIONS_CLIENT_SECRET"] = secret
            if revocation_poll_seconds is not None:
                env[f"{p}REVOCATIONS_POLL_SECONDS"] = str(revocation_poll_seconds)
    env["IDENTITY_REVOCATION_READERS"] = json.dumps(readers)
    # GraphiQL at the gateway signs in with identity's public client, redirected back to the IDE itself.
    env["IDENTITY_GRAPHIQL_REDIRECT_URIS"] = json.dumps([f"{url['gateway']}/graphql"])
    env["GATEWAY_GRAPHIQL_CLIENT_ID"] = "effekt-graphiql"
    env.update(extra or {})
    return env


def taken_ports(host: str, ports: Mapping[str, int]) -> dict[str, int]:
    """The services whose port something already listens on (another `effekt up`, say): started anyway,
    their processes would exit, and the one already there would answer in their place."""
    taken: dict[str, int] = {}
    for name, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind((host, port))
            except OSError:
                taken[name] = port
    return taken


@dataclass
class Platform:
    """The running processes; `stop()` ends them gracefully (SIGTERM, then SIGKILL after a grace period)."""

    ports: Mapping[str, int]
    env: Mapping[str, str]
    log_dir: Path
    host: str = "127.0.0.1"
    services: tuple[Service, ...] = SERVICES
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    serving: dict[str, str] = field(default_factory=dict)  # process key -> the service it runs
    _logs: list[IO[bytes]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    def start(self, names: tuple[str, ...] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            if names is not None and service.name not in names:
                continue
            self.start_one(service.name)

    def start_one(self, name: str, *, port: int | None = None, key: str | None = None) -> str:
        """Start one service process (a second replica when given another port and key)."""
        service = next(s for s in self.services if s.name == name)
        port = port or self.ports[name]
        key = key or name
        log = (self.log_dir / f"{key}.log").open("ab")
        self._logs.append(log)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            service.target,
            "--factory",
            "--host",
            self.host,
            "--port",
            str(port),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "10",
            # Outlive the gateway's pooled connections (30 s idle), or it may write to a closed socket.
            "--timeout-keep-alive",
            "75",
        ]
        self.processes[key] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.endpoints[key] = f"http://{self.host}:{port}"
        self.serving[key] = name
        return self.endpoints[key]

    def wait_ready(self, timeout: float = 60.0, on_ready: Callable[[str], None] | None = None) -> None:
        """Block until every started process answers `/readyz` with 200; raise if one dies or times out.

        The answer must name the service started there: another process on that port (one that took it
        first) would otherwise pass for it, and every request meant for this one would go astray. A
        process holding identity's revocation list must also have fetched its first one: until then it
        refuses every token (kit/revocations.py), so a seed started at once would be refused."""
        deadline = time.monotonic() + timeout
        pending = dict(self.processes)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for key, process in list(pending.items()):
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{key} exited with {process.returncode}; see {self.log_dir / key}.log"
                        )
                    try:
                        response = client.get(f"{self.endpoints[key]}/readyz")
                    except httpx.HTTPError:
                        continue
                    ok = response.status_code == 200
                    if ok and (answered := response.json().get("service")) != self.serving[key]:
                        where = self.endpoints[key]
                        raise RuntimeError(f"{where} is {answered!r}, not {key}: is the port taken?")
                    revocations = response.json().get("token_revocations", {}) if ok else {}
                    ok = ok and revocations.get("age_seconds", 0) is not None
                    if ok:
                        del pending[key]
                        if on_ready:
                            on_ready(key)
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"not ready after {timeout:.0f}s: {', '.join(pending)} (logs in {self.log_dir})"
                    )
                if pending:
                    time.sleep(0.1)

    def stop_one(self, key: str, *, kill: bool = False, grace: float = 15.0) -> None:
        process = self.processes.pop(key, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for key in list(self.processes):
            process = self.processes[key]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for key in list(self.processes):
            self.stop_one(key)
        for log in self._logs:
            log.close()
        self._logs.clear()


def migrate(service: Service, database_url: str, *, revision: str = "head") -> None:
    """`alembic upgrade` for one service as the tables' owner at `database_url`, as its own process
    (production's explicit migration step). The service's `<PREFIX>DATABASE_URL`, when it names another
    role, is the runtime role the migration then grants row access (kit/migrations.py)."""
    env = {**os.environ, f"{service.env_prefix}MIGRATION_DATABASE_URL": database_url}
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "alembic", "-c", str(service.alembic_ini), "upgrade", revision],
        env=env,
        check=True,
    )
