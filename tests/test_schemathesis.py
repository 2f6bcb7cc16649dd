"""Hostile input against every REST operation: schemathesis (the CLI, as an integrator's CI would run it)
walks each service's OpenAPI document as real partners with valid tokens — boundary values (coverage
phase), random valid and invalid data (fuzzing) and chains of calls along the links it infers (stateful).

Every response must be no 5xx, a documented status code with the documented content type, headers and
schema, and invalid input must be refused. The random runs are bounded by examples (`MAX_EXAMPLES`), not by
time, so every operation is always reached; the boundary-value runs by time. It runs on a platform of its
own, so the random writes (a signing-key rotation, a revoked client) never reach other tests.
`positive_data_acceptance` is left out: a schema cannot say that a cursor must be one the API issued or
that a CPR number's check digits must match, so a schema-valid request may rightly be a 400 or 422.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.cast import Cast, make_cast
from effekt.sandbox.identifiers import HERNING, synthetic_cpr
from tests.outcomes.support import TODAY, active_contract, claim, confirm, employment_terms, enrol
from tests.platform import running_platform

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
MAX_EXAMPLES = 3  # per operation in the fuzzing phase
COVERAGE_SECONDS = 8  # the coverage phase derives its own boundary cases, hundreds per service: time-boxed
# Which partner walks which service: every operation of each service randomly, as its writers and its
# readers (whose answers differ: 403s, narrower views), and along links as its main writer; then,
# time-boxed, the boundary values of every parameter as that main writer.
RUNS = (
    ("outcomes", "provider", "fuzzing,stateful"),
    ("outcomes", "payer_a", "fuzzing"),
    ("outcomes", "investor", "fuzzing"),
    ("contracts", "provider", "fuzzing,stateful"),
    ("contracts", "payer_a", "fuzzing"),
    ("identity", "operator", "fuzzing,stateful"),
    ("identity", "provider", "fuzzing"),
    ("outcomes", "provider", "coverage"),
    ("contracts", "provider", "coverage"),
    ("identity", "operator", "coverage"),
)
# Runs under way at once, in RUNS' order: a run mostly waits for one request at a time (its CLI on one core,
# a service on the other), so two share the machine's two cores instead of taking turns on them.
AT_ONCE = 2
Runs = dict[tuple[str, str, str], Future[dict[str, Any]]]
TEST_NAME = "test_every_operation_answers_hostile_input_as_documented"


@dataclass(frozen=True)
class Scene:
    platform: Platform
    cast: Cast
    ids: dict[str, str]  # path and query parameters fixed to real rows, so calls reach the rules


@pytest.fixture(scope="module")
def scene(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with running_platform(pg_server_url, tmp_path_factory.mktemp("schemathesis")) as platform:
        cast, ids = asyncio.run(_seed(platform))
        yield Scene(platform, cast, ids)


async def _seed(platform: Platform) -> tuple[Cast, dict[str, str]]:
    cast = await make_cast(platform)
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
    ):
        contract_id, version_id = await active_contract(contracts, cast, employment_terms(cast))
        participant = await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(3),
            municipality_code=HERNING,
            enrolment_date=TODAY - timedelta(days=100),
        )
        await confirm(outcomes, cast.payer_a, participant["id"])
        claimed = await claim(
            outcomes, cast.provider, participant["id"], "job_start", TODAY - timedelta(days=50)
        )
    return cast, {
        "partnership_id": str(cast.partnership_id),
        "contract_id": str(contract_id),
        "version_id": str(version_id),
        "participant_id": str(participant["id"]),
        "claim_id": str(claimed["id"]),
    }


def _config(path: Path, ids: dict[str, str]) -> Path:
    """Path and query ids fixed to the scene's rows; body fields drawn mostly from real values (valid CPR
    numbers, the payer's municipality, dates inside the contract), so writes can pass validation and the
    stateful phase has rows to follow its links from."""
    bodies = {
        "partnership_id": [ids["partnership_id"]],
        "contract_id": [ids["contract_id"]],
        "participant_id": [ids["participant_id"]],
        "cpr": [synthetic_cpr(i) for i in range(40, 60)],
        "municipality_code": [HERNING],
        "enrolment_date": [(TODAY - timedelta(days=20)).isoformat()],
        "achievement_date": [(TODAY - timedelta(days=10)).isoformat()],
        "outcome_code": ["job_start"],
    }
    # A feed read that long-polls (`wait`), or the event stream, would hold each case open for seconds.
    lines = ["max-stream-events = 1", "[parameters]", "wait = 0"]
    lines += [f'{name} = "{value}"' for name, value in ids.items()]
    lines += [f'"body.{name}" = {{ dictionary = "{name}", probability = 0.8 }}' for name in bodies]
    for name, values in bodies.items():
        lines += [f"[dictionaries.{name}]", "values = [" + ", ".join(f'"{v}"' for v in values) + "]"]
    lines += ["[phases.stateful]", "max-steps = 6", "[phases.stateful.generation]", "max-examples = 10"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(scene: Scene, service: str, actor: str, phases: str, work: Path) -> dict[str, Any]:
    """One bounded schemathesis run: its JSON report (the command's output is in the failure message)."""
    token = getattr(scene.cast, actor).token
    config = _config(work / "schemathesis.toml", scene.ids)
    report = work / f"{service}-{actor}.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{scene.platform.url(service)}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        phases,
        # The event stream stays open (schemathesis reads it to its request timeout): its random cases
        # suffice, the time-boxed boundary phase is spent on the rest.
        *(
            ["--max-time", str(COVERAGE_SECONDS), "--exclude-path", "/v1/feed/stream"]
            if phases == "coverage"
            else []
        ),
        "--seed",
        "17",  # reproducible in CI; a failure prints the case and a curl line to replay it
        "--request-timeout",
        "20",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    # In the test's own folder: schemathesis keeps a cache (`.schemathesis/`) where it runs.
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=work)
    assert report.is_file(), done.stdout + done.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    result["output"] = done.stdout
    return result


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, scene: Scene, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runs]:
    """The runs of RUNS this session's tests ask for, started as the module starts, AT_ONCE at a time;
    each test reads its own. The runs already shared one platform one after another (each sees the rows
    and key rotations the ones before it made), so overlapping them changes which documented answers
    come, not what is checked."""
    wanted = {
        (item.callspec.params["service"], item.callspec.params["actor"], item.callspec.params["phases"])
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == TEST_NAME
    }
    with ThreadPoolExecutor(AT_ONCE) as pool:
        futures = {
            run: pool.submit(_run, scene, *run, tmp_path_factory.mktemp(f"{run[0]}-{run[1]}"))
            for run in RUNS
            if run in wanted
        }
        try:
            yield futures
        finally:
            for future in futures.values():
                future.cancel()  # the ones not started, when the module is cut short


@pytest.mark.parametrize(
    ("service", "actor", "phases"), RUNS, ids=[f"{s}-{a}-{p.split(',')[0]}" for s, a, p in RUNS]
)
def test_every_operation_answers_hostile_input_as_documented(
    runs: Runs, service: str, actor: str, phases: str
) -> None:
    result = runs[(service, actor, phases)].result()
    operations = result["operations"]
    assert result["failures"] == [], result["output"]
    assert result["errors"] == [], result["output"]
    if phases != "coverage":  # the time-boxed phase reaches what it reaches; the others reach everything
        assert operations["tested"] == operations["total"] > 0, result["output"]
        assert result["test_cases"]["generated"] > operations["total"]
    cases = result["test_cases"]["generated"]
    print(f"schemathesis {service} as {actor} ({phases}): {operations['tested']} operations, {cases} cases")
