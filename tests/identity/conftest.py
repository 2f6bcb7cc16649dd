"""Identity's tests run against an identity process of their own: they need no other service, start
faster, and keep working while another service is mid-change. The root conftest's `cast` and
`shared_cast` build their actors on this platform, since they ask for `platform` by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from effekt.launcher import Platform
from tests.platform import running_platform


@pytest.fixture(scope="session")
def platform(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    log_dir: Path = tmp_path_factory.mktemp("identity-logs")
    with running_platform(pg_server_url, log_dir, only=("identity",)) as running:
        yield running
