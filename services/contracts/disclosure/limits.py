"""A per-address limit on the unauthenticated open-data reads: a fixed one-minute window per client
address, counted in this replica (behind N replicas a client gets at most N times the limit). A refused
read is a 429 problem with `Retry-After`; nothing is read from the database first."""

from __future__ import annotations

import time
from collections.abc import Callable

from kit.problems import TooManyRequests

WINDOW = 60.0
MAX_TRACKED = 100_000


class PerAddressLimit:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._window = 0
        self._counts: dict[str, int] = {}

    def check(self, address: str) -> None:
        window = int(self._clock() // WINDOW)
        if window != self._window or len(self._counts) > MAX_TRACKED:
            self._window, self._counts = window, {}
        count = self._counts.get(address, 0) + 1
        self._counts[address] = count
        if count > self._limit:
            retry = max(1, int((window + 1) * WINDOW - self._clock()) + 1)
            raise TooManyRequests(
                f"at most {self._limit} open-data reads a minute from one address",
                headers={"Retry-After": str(retry)},
            )
