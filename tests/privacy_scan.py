"""The suite's privacy scan: no CPR number is ever stored or logged in clear, however the tests sent one.

The hostile tests send CPR numbers everywhere (in the CPR field, spelled in other scripts, in free text
that must refuse them). `tests/platform.py` scans every database of every platform the suite starts just
before it is dropped, and the session's end (`tests/conftest.py`) scans every log file in their log
directories (a second replica's too, `tests/outcomes/support.py`), then fails the run if either found a
CPR-shaped number (`kit.cpr`, the rule the services refuse and redact by). Every column is read as
text; `bytea` columns (canonical ledger events, attachments, ciphertexts) are read as UTF-8 as well, so a
number inside stored bytes is found too. A finding names the database, table and column, or the log file
and line, with the number itself redacted: the report must not print what it looks for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from kit.cpr import contains_cpr, redact_cpr

EXCERPT = 160


@dataclass
class Coverage:
    """What the scans read, for the summary line."""

    databases: int = 0
    tables: int = 0
    rows: int = 0
    values: int = 0
    log_files: int = 0
    log_lines: int = 0
    seconds: float = 0.0


@dataclass
class Scan:
    coverage: Coverage = field(default_factory=Coverage)
    findings: list[str] = field(default_factory=list)
    log_dirs: set[Path] = field(default_factory=set)  # every platform's, to scan at the end


# One per test process: each pytest-xdist worker scans what its platforms wrote; the controller sums them.
SESSION = Scan()


def _excerpt(text: str) -> str:
    shown = redact_cpr(text, "[CPR]")
    at = shown.find("[CPR]")
    start = max(0, at - EXCERPT // 2)
    return shown[start : start + EXCERPT].replace("\n", "\\n")


_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""
_COLUMNS = """
SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _scan_database(url: str, label: str, scan: Scan) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        scan.coverage.databases += 1
        for schema, table in await connection.fetch(_TABLES):
            qualified = f"{_quoted(schema)}.{_quoted(table)}"
            columns = await connection.fetch(_COLUMNS, qualified)
            selected = ", ".join(
                _quoted(name) if kind == "bytea" else f"{_quoted(name)}::text" for name, kind in columns
            )
            scan.coverage.tables += 1
            hits: dict[str, tuple[int, str]] = {}
            async with connection.transaction(readonly=True):
                async for row in connection.cursor(f"SELECT {selected} FROM {qualified}"):  # noqa: S608
                    scan.coverage.rows += 1
                    for (name, _), value in zip(columns, row, strict=True):
                        if value is None:
                            continue
                        scan.coverage.values += 1
                        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
                        if contains_cpr(text):
                            count, example = hits.get(name, (0, _excerpt(text)))
                            hits[name] = (count + 1, example)
            for name, (count, example) in hits.items():
                scan.findings.append(f"{label}: {schema}.{table}.{name}: {count} row(s), e.g. {example}")
    finally:
        await connection.close()


def scan_databases(database_urls: Mapping[str, str], scan: Scan = SESSION) -> None:
    """Scan each service's database (service name -> SQLAlchemy or libpq URL) into `scan`."""

    async def run() -> None:
        for service, url in database_urls.items():
            await _scan_database(url, f"database {service} ({url.rsplit('/', 1)[-1]})", scan)

    started = time.monotonic()
    asyncio.run(run())
    scan.coverage.seconds += time.monotonic() - started


def log_files(directories: Iterable[Path]) -> Iterator[Path]:
    yield from sorted({path for directory in directories for path in directory.rglob("*.log")})


def scan_logs(directories: Iterable[Path], scan: Scan = SESSION) -> None:
    """Scan every `*.log` in `directories` (the platforms' log directories) into `scan`."""
    started = time.monotonic()
    for path in log_files(directories):
        scan.coverage.log_files += 1
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                scan.coverage.log_lines += 1
                if contains_cpr(line):
                    scan.findings.append(f"log {path}:{number}: {_excerpt(line)}")
    scan.coverage.seconds += time.monotonic() - started


def as_output(scan: Scan = SESSION) -> dict[str, Any]:
    """What a worker sends the controller (plain data: pytest-xdist pickles nothing of ours)."""
    return {"coverage": asdict(scan.coverage), "findings": list(scan.findings)}


def merge(output: Mapping[str, Any], scan: Scan = SESSION) -> None:
    for name, value in output["coverage"].items():
        setattr(scan.coverage, name, getattr(scan.coverage, name) + value)
    scan.findings.extend(output["findings"])


def summary(scan: Scan = SESSION) -> str:
    c = scan.coverage
    return (
        f"privacy scan: {c.databases} databases, {c.tables} tables, {c.rows:,} rows ({c.values:,} values), "
        f"{c.log_files} log files ({c.log_lines:,} lines) in {c.seconds:.1f} s: "
        f"{len(scan.findings)} CPR-shaped finding(s)"
    )
