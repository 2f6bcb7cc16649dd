"""The privacy scan itself (tests/privacy_scan.py) finds a CPR number wherever one was stored or logged, in
text, JSON and bytes, in any spelling, and reports where without printing it; clean data passes."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg

from effekt.embedded_pg import asyncpg_url
from tests.digits import written_in
from tests.platform import create_databases, drop_databases
from tests.privacy_scan import Scan, scan_databases, scan_logs

NUMBER = "010190-1234"


async def _fill(url: str) -> None:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await connection.execute(
            """
            CREATE SCHEMA audit;
            CREATE TABLE notes (id uuid PRIMARY KEY, body text, extra jsonb, raw bytea);
            CREATE TABLE audit.trail (id serial PRIMARY KEY, what text);
            """
        )
        rows = [
            ("550e8400-e29b-41d4-a716-446655440000", "no number here", '{"n": 12345}', b"\x00\x01"),
            ("550e8400-e29b-41d4-a716-446655440001", f"født {NUMBER}", None, None),
            (
                "550e8400-e29b-41d4-a716-446655440002",
                "",
                f'{{"cohort": "{written_in("fullwidth", NUMBER)}"}}',
                None,
            ),
            ("550e8400-e29b-41d4-a716-446655440003", "", None, b'{"reason": "0101901234"}'),
        ]
        await connection.executemany("INSERT INTO notes VALUES ($1, $2, $3::jsonb, $4)", rows)
        await connection.execute("INSERT INTO audit.trail (what) VALUES ('a0202904321b'), ('ok')")
    finally:
        await connection.close()


def test_the_scan_finds_a_cpr_number_in_every_column_kind_and_log_and_never_prints_it(
    pg_server_url: str, tmp_path: Path
) -> None:
    name = f"effekt_test_scan_{secrets.token_hex(4)}"
    asyncio.run(create_databases(pg_server_url, [name]))
    try:
        url = asyncpg_url(pg_server_url, name)
        asyncio.run(_fill(url))
        scan = Scan()
        scan_databases({"outcomes": url}, scan)
    finally:
        asyncio.run(drop_databases(pg_server_url, [name]))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "outcomes.log").write_text('{"event": "ok"}\n{"event": "enrolled 01 01 90 12 34"}\n')
    (tmp_path / "logs" / "gateway.log").write_text('{"event": "a0202904321b"}\n')
    scan_logs([tmp_path / "logs"], scan)

    assert len(scan.findings) == 4, scan.findings
    assert any("public.notes.body: 1 row" in f for f in scan.findings)
    assert any("public.notes.extra: 1 row" in f for f in scan.findings)
    assert any("public.notes.raw: 1 row" in f for f in scan.findings)
    assert any(f.startswith(f"log {tmp_path}/logs/outcomes.log:2:") for f in scan.findings)
    report = "\n".join(scan.findings)
    assert NUMBER not in report
    assert "0101901234" not in report
    assert written_in("fullwidth", NUMBER) not in report
    assert "[CPR]" in report
    assert (scan.coverage.databases, scan.coverage.tables, scan.coverage.rows) == (1, 2, 6)
    assert (scan.coverage.log_files, scan.coverage.log_lines) == (2, 3)
