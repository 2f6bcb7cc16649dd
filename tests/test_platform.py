"""The walking skeleton, end to end: every process up, healthy, speaking problem+json and OpenAPI 3.1."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from effekt.database_roles import drop_runtime_roles
from effekt.embedded_pg import asyncpg_url
from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from effekt.sandbox.platform import drop_databases, free_port
from tests.platform import TEST_ENV

SERVICES = ("identity", "contracts", "outcomes")
# The sandbox's time cost with the tests' memory (tests/platform.py), for `effekt up`'s demo seed.
CHEAP_PASSWORD_HASHING = {
    "IDENTITY_PASSWORD_HASH_TIME_COST": "1",
    "IDENTITY_PASSWORD_HASH_MEMORY_KIB": TEST_ENV["IDENTITY_PASSWORD_HASH_MEMORY_KIB"],
}


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
async def test_every_process_is_up_and_ready(platform: Platform, name: str) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": name}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert ready.json()["service"] == name
        if name != "identity":  # the others hold identity's revocation list, polled every half second here
            assert 0 <= ready.json()["token_revocations"]["age_seconds"] < 60
        assert re.fullmatch(r"[0-9a-f]{32}", ready.headers["x-request-id"])


@pytest.mark.parametrize("name", SERVICES)
async def test_openapi_is_3_1_and_documents_problem_json(platform: Platform, name: str) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert "ProblemDetail" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"]["default"]["content"]
            assert "application/problem+json" in content, (path, method)


# pydantic's names for constraints, which are not JSON Schema keywords: a generated client ignores them.
NOT_JSON_SCHEMA = {"ge", "gt", "le", "lt", "max_digits", "decimal_places", "allow_inf_nan"}


def _schema_keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key != "properties":  # property names are not keywords
                yield from _schema_keywords(value)
            else:
                for child in value.values():
                    yield from _schema_keywords(child)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_keywords(item)


@pytest.mark.parametrize("name", SERVICES)
async def test_openapi_schemas_use_json_schema_keywords_and_money_is_a_string(
    platform: Platform, name: str
) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert not NOT_JSON_SCHEMA & set(_schema_keywords(schemas))
    if name == "contracts":
        tariff = schemas["Outcome"]["properties"]["tariff"]
        assert tariff["type"] == "string"
        assert re.fullmatch(tariff["pattern"].strip("^$"), "25000.00")


@pytest.mark.parametrize("name", SERVICES)
async def test_unknown_route_is_a_problem(platform: Platform, name: str) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        response = await client.get("/v1/no-such-thing", headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["code"] == "not-found"
    assert body["type"].endswith("/not-found")
    assert body["request_id"] == "req-12345678"
    assert response.headers["x-request-id"] == "req-12345678"


@pytest.mark.parametrize(
    ("name", "path", "allowed"),
    [
        ("outcomes", "/v1/participants", "GET, POST"),
        ("outcomes", "/v1/payment-statements", "GET, POST"),
        ("contracts", "/v1/contracts", "GET, POST"),
        ("outcomes", "/v1/webhook-subscriptions/0b7e8a52-6a47-4d0e-9a55-5d1f3b0c2e11", "DELETE, GET, PATCH"),
        ("identity", "/v1/organisations", "GET, POST"),
    ],
)
async def test_a_method_the_path_does_not_serve_is_a_405_naming_every_one_it_does(
    platform: Platform, name: str, path: str, allowed: str
) -> None:
    async with new_client(base_url=platform.url(name)) as client:
        response = await client.request("OPTIONS", path)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == allowed


async def test_gateway_refuses_a_request_without_a_token(platform: Platform) -> None:
    async with new_client(base_url=platform.url("gateway")) as client:
        response = await client.post("/graphql", json={"query": "{ me { subject } }"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_process_without_its_port_is_not_taken_for_ready(platform: Platform, tmp_path: Path) -> None:
    """The service already on a port answers `/readyz` too: the launcher must see it is another one."""
    outcomes = next(s for s in platform.services if s.name == "outcomes")
    late = Platform(
        ports={"outcomes": platform.ports["identity"]},
        env=platform.env,
        log_dir=tmp_path,
        services=(outcomes,),
    )
    late.start()
    try:
        with pytest.raises(RuntimeError, match=r"is 'identity', not outcomes|outcomes exited"):
            late.wait_ready(timeout=30)
    finally:
        late.stop()


def _production_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "CONTRACTS_", "OUTCOMES_"))}
    env.update({"CONTRACTS_ENVIRONMENT": "production", "CONTRACTS_MIGRATE_ON_START": "false"})
    return env


def test_a_service_refuses_to_start_in_production_with_default_secrets(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.contracts.app:create_app",
            "--factory",
            "--port",
            str(port),
        ],
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "refusing to start in production with default or short secrets: secret_key" in result.stderr


def test_effekt_up_runs_the_platform_and_stops_on_ctrl_c(pg_server_url: str, tmp_path: Path) -> None:
    """README's run command, against the session's PostgreSQL and on free ports."""
    base = free_port()
    while not all(_port_free(base + i) for i in range(4)):
        base = free_port()
    prefix = f"effekt_up_{os.getpid()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "effekt.cli",
            "up",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            pg_server_url,
            "--database-prefix",
            prefix,
            "--base-port",
            str(base),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The demo seed makes and signs in a dozen users: with the tests' argon2id profile, not
        # production's 64 MiB x 3 passes (two thirds of this test's wall time on two busy cores).
        env={**os.environ, **CHEAP_PASSWORD_HASHING},
    )
    try:
        output = _read_until(process, "Press Ctrl-C to stop.", timeout=120, logs=tmp_path / "logs")
        assert "Effekt is running" in output
        assert "Demo partnership" in output
        assert "seed failed" not in output
        # The services connect as runtime roles the row policies bind (effekt/database_roles.py).
        assert f"the services connect as {prefix}_identity_app" in output
        for offset in range(4):
            assert httpx.get(f"http://127.0.0.1:{base + offset}/readyz").status_code == 200
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0, rest
        assert "Stopped." in rest
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{base + 1}/healthz")
    finally:
        if process.poll() is None:
            # Ctrl-C, as a user stops it: effekt up then stops its services; a kill would orphan them.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()  # else the pipe is closed by the collector, in a later test, as a warning
        databases = {n: f"{prefix}_{n}" for n in SERVICES}
        asyncio.run(drop_databases(pg_server_url, list(databases.values())))
        admin = asyncpg_url(pg_server_url, "postgres").replace("+asyncpg", "")
        asyncio.run(drop_runtime_roles(admin, databases))


def test_effekt_up_refuses_ports_already_in_use_before_starting_anything(tmp_path: Path) -> None:
    """A second `effekt up` would otherwise take the first one's services, answering, for its own."""
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        identity_port = occupant.getsockname()[1]
        done = subprocess.run(
            [
                *(sys.executable, "-m", "effekt.cli", "up", "--data-dir", str(tmp_path)),
                *("--base-port", str(identity_port - 1), "--database-url", "postgresql://nowhere.invalid/x"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "ports already in use" in done.stderr
    assert f"identity 127.0.0.1:{identity_port}" in done.stderr
    assert "Effekt is running" not in done.stdout
    assert not (tmp_path / "logs").exists()  # no process was started


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float, logs: Path) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            # The services' own last lines say why one of them exited (the log directory is gone later).
            tails = [
                f"--- {log.name}:\n" + "".join(log.read_text().splitlines(True)[-15:])
                for log in sorted(logs.glob("*.log"))
            ]
            raise AssertionError("effekt up exited early:\n" + "".join(lines) + "\n".join(tails))
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("timed out:\n" + "".join(lines))
