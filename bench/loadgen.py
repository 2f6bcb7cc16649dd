"""A bounded asyncio load generator: N concurrent workers, a fixed operation count AND a time cap.

Each operation is an async callable (one HTTP request, or several for a composite operation such as the
REST equivalent of a dashboard); its latency is measured around the whole call. The generator's own ceiling
is measured in the same run against a minimal keep-alive HTTP responder (`bench.servers`), so every figure
can be read against what the client itself could drive.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

Operation = Callable[[int], Awaitable[None]]


@dataclass
class Run:
    """One repetition: how many operations finished, how long it took, and their latencies."""

    ops: int
    errors: int
    seconds: float
    latencies: list[float] = field(repr=False)
    unit_per_op: float = 1.0  # e.g. 1 000 rows per feed page
    first_error: str | None = None

    @property
    def throughput(self) -> float:
        return self.ops * self.unit_per_op / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] * 1000.0


@dataclass
class Measurement:
    """The median of at least three repetitions (throughput, p50 and p99 each the median of the runs)."""

    name: str
    unit: str
    throughput: float
    p50_ms: float
    p99_ms: float
    ops: int
    errors: int
    repetitions: int
    runs: list[dict[str, float]]
    note: str | None = None
    first_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(name: str, unit: str, runs: list[Run], note: str | None = None) -> Measurement:
    per_run = [
        {"throughput": r.throughput, "p50_ms": r.percentile(0.50), "p99_ms": r.percentile(0.99), "ops": r.ops}
        for r in runs
    ]
    return Measurement(
        name=name,
        unit=unit,
        throughput=statistics.median(r["throughput"] for r in per_run),
        p50_ms=statistics.median(r["p50_ms"] for r in per_run),
        p99_ms=statistics.median(r["p99_ms"] for r in per_run),
        ops=sum(r.ops for r in runs),
        errors=sum(r.errors for r in runs),
        repetitions=len(runs),
        runs=per_run,
        note=note,
        first_error=next((r.first_error for r in runs if r.first_error), None),
    )


async def drive(
    operation: Operation, *, count: int, concurrency: int, time_cap: float, unit_per_op: float = 1.0
) -> Run:
    """Run `operation(i)` for i in 0..count-1 on `concurrency` workers; stop early at `time_cap` seconds.

    An operation that raises counts as an error (its latency is not recorded)."""
    next_index = 0
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    start = time.perf_counter()
    deadline = start + time_cap

    async def worker() -> None:
        nonlocal next_index, errors, first_error
        while next_index < count and time.perf_counter() < deadline:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            try:
                await operation(i)
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(
        ops=len(latencies),
        errors=errors,
        seconds=time.perf_counter() - start,
        latencies=latencies,
        unit_per_op=unit_per_op,
        first_error=first_error,
    )


class HttpStatusError(Exception):
    pass


def session(concurrency: int) -> aiohttp.ClientSession:
    """A keep-alive session with one connection per worker, and no cookie jar or proxy lookups."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=None),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def expect(response: aiohttp.ClientResponse, *statuses: int) -> bytes:
    body = await response.read()
    if response.status not in statuses:
        raise HttpStatusError(
            f"{response.method} {response.url.path}: {response.status} {body[:300].decode(errors='replace')}"
        )
    return body


def get_operation(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> Operation:
    async def op(_: int) -> None:
        async with client.get(url, headers=headers) as response:
            await expect(response, 200)

    return op


# --- wrk, when installed ----------------------------------------------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, *, concurrency: int, seconds: float) -> dict[str, float] | None:
    """wrk's req/s and latency percentiles for one GET URL (None when wrk is absent or fails)."""
    if not wrk_available():
        return None
    threads = max(1, min(2, concurrency))
    try:
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> dict[str, float] | None:
    result: dict[str, float] = {}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:") and len(parts) == 2:
            result["throughput"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            result[f"p{parts[0][:-1]}_ms"] = _wrk_ms(parts[1])
    return result if "throughput" in result else None


def _wrk_ms(value: str) -> float:
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)
