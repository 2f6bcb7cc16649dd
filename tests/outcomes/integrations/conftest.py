"""The integration tests' own platforms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from effekt.launcher import Platform
from tests.platform import running_platform

# Groups that collect for 50 ms, so that concurrent writes do share a transaction here.
GROUPED = {"OUTCOMES_GROUP_WINDOW": "0.05", "OUTCOMES_GROUP_SIZE": "32"}


@pytest.fixture(scope="package")
def grouped(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform with group commit tuned for the group tests (test_claim_groups.py, test_write_groups.py),
    started once for both: each works in casts of its own, and a test that kills the outcome service
    starts it again and waits until it is ready before it ends."""
    with running_platform(pg_server_url, tmp_path_factory.mktemp("groups"), extra_env=GROUPED) as platform:
        yield platform
