"""The machine description, `bench/results/latest.json` and the Markdown report (docs/benchmarks.md)."""

from __future__ import annotations

import math
import os
import platform as host
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.loadgen import Measurement
from bench.results import Section
from bench.seed import plain_dsn
from effekt.embedded_pg import asyncpg_url


async def describe_machine(server_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(plain_dsn(asyncpg_url(server_url, "postgres")))
    try:
        postgres = str(await conn.fetchval("SELECT version()"))
        settings = {
            r["name"]: r["setting"]
            for r in await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections')"
            )
        }
    finally:
        await conn.close()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_kib() / 1024 / 1024, 1),
        "os": f"{host.system()} {host.release()}",
        "python": sys.version.split()[0],
        "postgresql": postgres,
        "postgresql_settings": settings,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return host.processor() or "unknown"


def _memory_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.{digits}f}"


def row(kind: str, m: Measurement) -> str:
    errors = f" ({m.errors} errors)" if m.errors else ""
    return (
        f"| {kind} | {m.name}{errors} | {_num(m.throughput)} {m.unit} | {_num(m.p50_ms, 2)} | "
        f"{_num(m.p99_ms, 2)} | {m.ops} | {m.repetitions} |"
    )


def markdown(payload: dict[str, Any], sections: list[Section], baseline: list[Measurement]) -> str:
    machine = payload["machine"]
    quick = payload["mode"] == "quick"
    settings = ", ".join(f"{k}={v}" for k, v in machine["postgresql_settings"].items())
    out: list[str] = []
    if quick:
        out += [
            "> **Quick smoke run — not a measurement.** `--quick` uses tiny sizes and was run on a shared, "
            "busy machine; it proves the harness works end to end. Do not quote these figures.",
            "",
        ]
    out += [
        f"Run: {payload['started']} ({payload['mode']} mode, {payload['repetitions']} repetitions, "
        f"median of each figure; {payload['concurrency']} concurrent clients where stated).",
        "",
        "| Machine | |",
        "|---|---|",
        f"| CPU | {machine['cpu_model']} |",
        f"| Cores | {machine['cores']} |",
        f"| Memory | {machine['memory_gib']} GiB |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| PostgreSQL | {machine['postgresql']} |",
        f"| PostgreSQL settings | {settings} |",
        f"| Load generator | {payload['load_generator']} |",
        "",
        "### Load generator and raw HTTP limits",
        "",
        "| | Measurement | Throughput | p50 ms | p99 ms | ops | reps |",
        "|---|---|---|---|---|---|---|",
        *(row("limit", m) for m in baseline),
    ]
    for name, figures in payload.get("wrk", {}).items():
        out.append(
            f"| wrk | {name} | {_num(figures.get('throughput'))} req/s | {_num(figures.get('p50_ms'), 2)} | "
            f"{_num(figures.get('p99_ms'), 2)} | - | 1 |"
        )
    if len(baseline) >= 2 and baseline[0].throughput:
        share = baseline[1].throughput / baseline[0].throughput
        out += [
            "",
            f"The hello-world endpoint reached {share:.0%} of the load generator's own ceiling: the closer "
            "to 100 %, the more the client (sharing the cores), not the server, limits the HTTP figures.",
        ]
    for section in sections:
        out += ["", f"### {section.title}", ""]
        if section.status != "ok":
            out += [f"**{section.status}**: {section.reason}", ""]
        if section.measurements or section.limits:
            out += [
                "| | Measurement | Throughput | p50 ms | p99 ms | ops | reps |",
                "|---|---|---|---|---|---|---|",
            ]
            out += [row("Effekt", m) for m in section.measurements]
            out += [row("limit", m) for m in section.limits]
        if section.ratios:
            out += ["", "| Ratio | Value | Target | Met |", "|---|---|---|---|"]
            for r in section.ratios:
                met = (
                    "n/a (stand-in)" if r.informational else {True: "yes", False: "**no**", None: "-"}[r.met]
                )
                out.append(f"| {r.name} | {_num(r.value, 2)} | {r.comparison} {r.target} | {met} |")
        for note in section.notes:
            out += ["", f"- {note}"]
        for m in section.measurements + section.limits:
            if m.errors and m.first_error:
                out += [
                    "",
                    f"- {m.errors} failed request(s) in '{m.name}', the first: `{m.first_error[:240]}`",
                ]
    return "\n".join(out) + "\n"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
