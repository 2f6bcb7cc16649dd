"""Fixtures for the outcome service's HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from effekt.launcher import Platform
from tests.platform import running_platform

# The shared test platform leaves the registry's change log unread (its tests count a partnership's ledger
# events exactly); `recording_platform` records it.
RECORDING = {"OUTCOMES_CONTRACT_EVENTS": "true", "OUTCOMES_CONTRACT_EVENTS_POLL_INTERVAL": "0.5"}


@pytest.fixture(scope="package")
def recording_platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform whose outcome service records the registry's change log in the ledgers, shared by the
    modules that read those events (tests/outcomes/test_contract_events.py and
    integrations/test_published_events.py): each test works in partnerships of its own and never stops
    it, so one start serves both."""
    with running_platform(
        pg_server_url, tmp_path_factory.mktemp("recording"), extra_env=RECORDING
    ) as platform:
        yield platform
