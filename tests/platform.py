"""The test platform: the sandbox's disposable platform (`effekt.sandbox.platform`) with what only the
tests want switched off, its databases copied from templates migrated once per session and scanned for CPR
numbers before they are dropped."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from effekt.launcher import Platform
from effekt.sandbox import platform as sandbox
from effekt.sandbox.platform import create_databases, drop_databases, free_port, free_ports, postgres_server
from tests import privacy_scan

__all__ = [
    "create_databases",
    "drop_databases",
    "free_port",
    "free_ports",
    "postgres_server",
    "running_platform",
]

TEST_ENV = {
    # The registry's change log is recorded in the ledgers a poll after each activation: off where tests
    # count a partnership's events exactly; tests/outcomes/test_contract_events.py turns it on.
    "OUTCOMES_CONTRACT_EVENTS": "false",
    # argon2id still, at an eighth of the sandbox's memory (production keeps RFC 9106's profile): the suite
    # makes and signs in well over a thousand people, and at 8 MiB each hash was 5 ms of identity's CPU.
    "IDENTITY_PASSWORD_HASH_MEMORY_KIB": "1024",
}


@contextmanager
def running_platform(
    server_url: str,
    log_dir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    only: tuple[str, ...] | None = None,
) -> Iterator[Platform]:
    privacy_scan.SESSION.log_dirs.add(log_dir)
    with sandbox.running_platform(
        server_url, log_dir, extra_env={**TEST_ENV, **(extra_env or {})}, only=only, from_templates=True
    ) as platform:
        try:
            yield platform
        finally:
            # Before the sandbox drops them (tests/privacy_scan.py; the logs at the session's end).
            privacy_scan.scan_databases(platform.database_urls)  # type: ignore[attr-defined]
