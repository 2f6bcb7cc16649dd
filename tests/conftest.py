"""Session fixtures: one PostgreSQL server, fresh databases, the platform's four processes on free ports.

Tests isolate themselves by creating their own organisations and partnerships (the tenancy unit), so
they never see one another's rows even though they share the session's databases.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from tests import privacy_scan
from tests.actors import Cast, close_clients, make_cast
from tests.platform import postgres_server, running_platform

# Modules (or single tests, `path::name`) that start processes of their own, kill or stall them, run the
# benchmark harness, migrate databases of their own, wait out timers (retries, grace periods, expiry) or the
# compactor, race writers for seconds on end, or walk every operation or table: minutes of the suite's
# wall time. `pytest -m "not slow"` leaves them out for a quick local run; CI runs everything.
SLOW = frozenset(
    {
        "tests/bench/test_quick_run.py",
        "tests/browser/test_partner_console.py",  # npm ci and a production build of the console first
        "tests/deploy/test_entrypoint.py",
        "tests/deploy/test_replicas.py",
        "tests/gateway/test_fanout.py",  # 200 participants enrolled, claimed and verified first
        "tests/gateway/test_log_privacy.py",
        "tests/gateway/test_subscription_limits.py::"
        "test_many_subscribers_of_a_partnership_cost_the_outcome_service_the_reads_of_one",
        "tests/identity/test_sign_in_throttles.py::test_failed_sign_ins_at_one_client_are_throttled_across_addresses",
        "tests/identity/test_sign_in_throttles.py::test_failed_sign_ins_from_one_address_are_throttled_with_retry_after",
        "tests/identity/test_tokens.py",
        "tests/outcomes/integrations/test_claim_groups.py",  # a process killed mid-group
        "tests/outcomes/integrations/test_dispatcher_crash.py",
        "tests/outcomes/integrations/test_feed.py::"
        "test_a_cursor_consumer_gets_every_event_exactly_once_in_order_while_writers_race",
        "tests/outcomes/integrations/test_published_events.py",
        "tests/outcomes/integrations/test_webhook_membership_ended.py",
        "tests/outcomes/integrations/test_webhook_secrets.py::"
        "test_after_a_rotation_both_secrets_verify_until_the_previous_one_is_dropped",
        "tests/outcomes/integrations/test_webhook_secrets.py::"
        "test_the_migration_encrypts_existing_secrets_and_the_downgrade_restores_them",
        "tests/outcomes/integrations/test_webhooks.py::"
        "test_a_receiver_that_fails_for_a_while_gets_every_event_after_it_recovers",
        "tests/outcomes/integrations/test_bulk.py::"
        "test_a_large_file_streams_in_and_sending_it_twice_at_once_does_each_line_once",
        "tests/outcomes/integrations/test_export.py::"
        "test_an_investor_export_verifies_offline_and_holds_no_pseudonym",  # a large export, verified offline
        "tests/outcomes/test_concurrency.py::test_fifty_concurrent_verifications_pay_exactly_up_to_the_contract_cap",
        "tests/outcomes/test_contract_events.py",
        "tests/outcomes/test_key_rotation.py",
        "tests/outcomes/test_privacy.py::test_no_table_and_no_response_holds_a_cpr_number",  # every table
        "tests/outcomes/test_rate_cards.py::test_concurrent_verifications_fill_each_tier_and_the_count_cap_exactly",
        "tests/outcomes/test_registry_unavailable.py",
        "tests/outcomes/test_tallies.py::test_aggregates_equal_a_recount_after_every_kind_of_write_folded_or_not",
        "tests/outcomes/test_tallies.py::test_concurrent_claims_and_decisions_with_compaction_running_end_exact",
        "tests/outcomes/test_tallies.py::"
        "test_the_migration_backfills_tallies_that_give_the_old_answer_and_the_downgrade_removes_them",
        "tests/test_connection_loss.py",
        "tests/test_authorisation_matrix.py::test_every_operation_answers_every_caller_kind_as_the_table_says",
        "tests/test_faults.py",
        "tests/test_schemathesis.py",
        "tests/test_idempotency.py::test_keys_expire_after_the_configured_lifetime_and_are_swept",
        "tests/test_migrations.py",  # alembic round trips on databases of its own, a service at a time
        "tests/test_platform.py::test_effekt_up_runs_the_platform_and_stops_on_ctrl_c",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts, kills or benchmarks processes of its own (minutes)")
    # A renamed module would silently join the fast set.
    missing = [entry for entry in SLOW if not (config.rootpath / entry.split("::")[0]).is_file()]
    assert not missing, f"tests/conftest.py SLOW names files that do not exist: {missing}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    collected, named = set(), set()
    for item in items:
        module = Path(str(item.path)).relative_to(root).as_posix()
        single = f"{module}::{item.name.split('[')[0]}"
        collected.add(module)
        named.add(single)
        if module in SLOW or single in SLOW:
            item.add_marker(pytest.mark.slow)
    # Modules holding slow tests first: pytest-xdist hands out whole modules in this order, so the long
    # ones start at once on both workers instead of one of them finishing the run alone.
    holds_slow = {entry.split("::")[0] for entry in SLOW}
    items.sort(key=lambda item: Path(str(item.path)).relative_to(root).as_posix() not in holds_slow)
    # A renamed test would likewise join the fast set (checked where its module was collected whole).
    if not config.option.keyword and config.args_source != pytest.Config.ArgsSource.ARGS:
        stale = [e for e in SLOW if "::" in e and e.split("::")[0] in collected and e not in named]
        assert not stale, f"tests/conftest.py SLOW names tests that do not exist: {stale}"


@pytest.fixture(scope="session", autouse=True)
async def _shared_http_clients() -> AsyncIterator[None]:
    """The actors' HTTP clients are shared by the whole session (one connection pool, not a TCP
    connection per call); closed when it ends."""
    yield
    await close_clients()


@pytest.fixture(scope="session", autouse=True)
def _privacy_scan() -> Iterator[None]:
    """Last to end: the platforms' databases were scanned as each stopped (tests/platform.py); now every log
    file they wrote. Any CPR-shaped number stored or logged fails the run (tests/privacy_scan.py)."""
    yield
    privacy_scan.scan_logs(privacy_scan.SESSION.log_dirs)
    assert not privacy_scan.SESSION.findings, "\n".join(privacy_scan.SESSION.findings)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker sends its scan's coverage and findings to the controller, which sums them."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["privacy_scan"] = privacy_scan.as_output()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    if "privacy_scan" in getattr(node, "workeroutput", {}):
        privacy_scan.merge(node.workeroutput["privacy_scan"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(privacy_scan.summary())


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture(scope="session")
def platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("logs")
    # Where `effekt up` keeps the demo: GraphiQL's picker reads it once a test seeds it (tests/browser/).
    demo_file = tmp_path_factory.mktemp("effekt-demo") / "demo.json"
    extra = {"GATEWAY_GRAPHIQL_DEMO_FILE": str(demo_file)}
    with running_platform(pg_server_url, log_dir, extra_env=extra) as running:
        yield running


def _client(platform: Platform, name: str) -> httpx.AsyncClient:
    return new_client(platform.url(name), timeout=30.0)


@pytest.fixture
async def identity(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(platform, "identity") as client:
        yield client


@pytest.fixture
async def contracts(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(platform, "contracts") as client:
        yield client


@pytest.fixture
async def outcomes(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(platform, "outcomes") as client:
        yield client


@pytest.fixture
async def gateway(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(platform, "gateway") as client:
        yield client


# A cast built ahead (see `cast`) is handed out only this young: its tokens live 15 minutes.
AHEAD_FOR_SECONDS = 300.0


@dataclass
class _Ahead:
    """The next cast of one platform, built while the test before it ran."""

    loop: asyncio.AbstractEventLoop
    started: float
    task: asyncio.Task[Cast]


_ahead: dict[tuple[str, str], _Ahead] = {}


def _key(platform: Platform) -> tuple[str, str]:
    return platform.url("identity"), platform.env["IDENTITY_BOOTSTRAP_OPERATOR_CLIENT_ID"]


async def _next_cast(platform: Platform) -> Cast:
    """The cast built ahead for this platform (awaited if still in the making) if it is sound and young,
    else one built now."""
    ahead = _ahead.pop(_key(platform), None)
    if ahead is not None and ahead.loop is asyncio.get_running_loop():
        await asyncio.wait([ahead.task])
        if (
            not ahead.task.cancelled()
            and ahead.task.exception() is None
            and time.monotonic() - ahead.started < AHEAD_FOR_SECONDS
        ):
            return ahead.task.result()
    return await make_cast(platform)


@asynccontextmanager
async def _building_ahead(platform: Platform) -> AsyncIterator[None]:
    """Build the platform's next cast while the body runs; on leaving, wait until it is built."""
    ahead = _ahead[_key(platform)] = _Ahead(
        asyncio.get_running_loop(), time.monotonic(), asyncio.ensure_future(make_cast(platform))
    )
    try:
        yield
    finally:
        await asyncio.wait([ahead.task])
        if not ahead.task.cancelled():
            ahead.task.exception()  # retrieved: a failed build is redone when a test wants it


@pytest.fixture
async def cast(platform: Platform) -> AsyncIterator[Cast]:
    """A brand-new partnership with an actor per role, each holding a real token (see tests/actors.py).

    A cast costs identity about a second of work, most of it while the test that asked for it waits. So
    while a test runs, the next cast is built beside it (on identity, which a test mostly leaves idle), and
    the fixture's teardown waits for it: building ahead only ever overlaps a test (or a module, with
    `shared_cast`) that asked for a cast of its own, and no two tests or modules ever get the same one. One
    that fails to build (a loaded machine's 503) is built again when it is wanted, failing that test if it
    fails again."""
    made = await _next_cast(platform)
    async with _building_ahead(platform):
        yield made


@pytest.fixture(scope="module")
async def shared_cast(platform: Platform) -> AsyncIterator[Cast]:
    """One cast for a module's tests that only add rows of their own and never count the partnership's
    (a cast costs seconds: ~60 calls and 10 sign-ins). A test that counts, or changes the partnership's
    state for everyone (activating a contract refuses overlapping proposals), keeps `cast`. Built ahead as
    `cast` is, the next one while the module runs."""
    made = await _next_cast(platform)
    async with _building_ahead(platform):
        yield made
