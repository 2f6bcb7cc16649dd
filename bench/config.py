"""How much load each section applies: the full run (the issue's sizes) and `--quick` (a smoke run)."""

from __future__ import annotations

from dataclasses import dataclass

# The platform's settings beyond the sandbox's disposable platform: the registry's change log (ledger events
# a poll after each activation) stays off, as the growth section sizes a partnership's ledger exactly.
PLATFORM_ENV = {"OUTCOMES_CONTRACT_EVENTS": "false"}
# The services' connection pools as deployed (kit/settings.py's defaults), not the sandbox's small ones: a
# test platform keeps few connections because it shares PostgreSQL's 100 with other runs, and under 32
# clients a small pool's overflow connections are opened and closed per checkout, which a deployment's
# are not.
DEPLOYED_POOLS = {
    f"{service}_DB_{setting}": "10"
    for service in ("IDENTITY", "CONTRACTS", "OUTCOMES")
    for setting in ("POOL_SIZE", "MAX_OVERFLOW")
}


@dataclass(frozen=True)
class Config:
    quick: bool
    repetitions: int = 3
    concurrency: int = 32
    # Connections for the raw INSERT limit; quick mode keeps it small because CI's PostgreSQL is shared
    # (max_connections 100) with the platform's own pools and other test sessions.
    db_connections: int = 32
    time_cap: float = 60.0  # seconds per repetition of one measurement; the count usually ends it first
    writes: int = 2_000  # enrolments, confirmations, claims and verifications per repetition
    spread: int = 16  # partnerships the spread claims row shares its claims among (the 16)
    limit_requests: int = 20_000  # hello-world and echo requests per repetition
    bulk_lines: int = 10_000
    bulk_requests: int = 2  # per repetition
    feed_events: int = 100_000
    feed_page: int = 1_000
    growth_small: int = 1_000
    growth_large: int = 1_000_000
    growth_samples: int = 50  # sequential latency samples per repetition and size
    dashboard_requests: int = 2_000
    dashboard_participants: int = 1_000  # the dashboard's partnership; half of their claims verified


FULL = Config(quick=False)
# The smallest sizes at which every section still runs each of its steps (two feed pages, a growth ratio
# over a twentyfold larger ledger): the test suite runs it (tests/bench/test_quick_run.py).
QUICK = Config(
    quick=True,
    time_cap=4.0,
    db_connections=8,
    writes=8,
    spread=4,  # still claims in several partnerships at once, without a dozen more casts to build
    limit_requests=300,
    bulk_lines=100,
    bulk_requests=1,
    feed_events=2_000,
    growth_small=500,
    growth_large=10_000,
    growth_samples=3,
    dashboard_requests=12,
    dashboard_participants=30,
)


def platform_env(cfg: Config) -> dict[str, str]:
    """The platform's settings for a run: the deployed pools, but in the suite's smoke run (`--quick`),
    which runs beside the suite's other platforms and keeps the sandbox's."""
    return PLATFORM_ENV if cfg.quick else {**PLATFORM_ENV, **DEPLOYED_POOLS}
