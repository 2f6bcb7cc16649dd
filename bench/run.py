"""One benchmark run: start the platform on free ports against fresh databases, measure the raw limits
and the five Effekt sections in the same run, write the JSON and Markdown reports, tear everything down."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from bench import limits, loadgen, report, servers
from bench.config import FULL, QUICK, Config, platform_env
from bench.loadgen import Measurement, summarise
from bench.results import Section
from bench.scenarios import (
    Auth,
    World,
    bulk_section,
    dashboard_programme,
    enrol_confirm_claim,
    feed_section,
    gateway_section,
    growth_section,
    prepare_sized,
    pricing_programme,
    programme,
    spread_programmes,
    verify_claims,
    writes_section,
)
from effekt.sandbox.cast import make_cast
from effekt.sandbox.platform import free_port, postgres_server, running_platform

ROOT = Path(__file__).resolve().parent.parent
CORE = ("identity", "contracts", "outcomes")


_BEGAN = time.perf_counter()


def log(message: str) -> None:
    """Progress on stderr, with the seconds since the run began."""
    print(f"[bench {time.perf_counter() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


async def _guard(section: Section, work: Awaitable[Section]) -> Section:
    """A section that raises is reported as failed with the reason; the run goes on."""
    try:
        return await work
    except Exception as exc:
        traceback.print_exc()
        return section.failed(f"{type(exc).__name__}: {str(exc)[:400]}")


async def _http_limits(
    world: World, log_dir: Path
) -> tuple[list[Measurement], Measurement | None, dict[str, Any]]:
    cfg, client = world.config, world.client
    baseline: list[Measurement] = []
    wrk: dict[str, Any] = {}
    hello: Measurement | None = None
    log("raw HTTP limits")
    for kind, name in (
        ("echo", "load generator ceiling: bare asyncio HTTP responder"),
        ("hello", "FastAPI hello-world under uvicorn (separate process)"),
    ):
        with servers.process(kind, free_port(), str(log_dir / f"{kind}.log")) as url:
            op = loadgen.get_operation(client, url)
            runs = [
                await loadgen.drive(
                    op, count=cfg.limit_requests, concurrency=cfg.concurrency, time_cap=cfg.time_cap
                )
                for _ in range(cfg.repetitions)
            ]
            measurement = summarise(f"{name}, {cfg.concurrency} clients", "req/s", runs)
            baseline.append(measurement)
            if kind == "hello":
                hello = measurement
            figures = await asyncio.to_thread(
                loadgen.run_wrk, url, concurrency=cfg.concurrency, seconds=1 if cfg.quick else 10
            )
            if figures:
                wrk[f"{name}, {cfg.concurrency} connections"] = figures
    return baseline, hello, wrk


async def measure(platform: Any, server_url: str, cfg: Config, log_dir: Path) -> dict[str, Any]:
    started = report.now()
    machine = await report.describe_machine(server_url)
    async with loadgen.session(cfg.concurrency * 4) as client:
        world = World(platform, server_url, cfg, client, Auth(platform))
        for service in CORE:
            async with client.get(platform.url(service) + "/openapi.json") as response:
                world.openapi[service] = orjson.loads(await response.read()) if response.status == 200 else {}
        baseline, hello, wrk = await _http_limits(world, log_dir)
        log("three casts and their active contracts")
        casts = await asyncio.gather(*(make_cast(platform) for _ in range(3)))
        main, small, large = [await programme(world, cast) for cast in casts]
        # Warm every service (token keys fetched, pools open, caches filled): no figure measures a cold start.
        for prog in (main, small, large):
            await world.get(
                "outcomes",
                f"/v1/partnerships/{prog.cast.partnership_id}/outcome-aggregates",
                prog.cast.payer_a,
            )
            await world.get(
                "outcomes", f"/v1/partnerships/{prog.cast.partnership_id}/ledger", prog.cast.investor_machine
            )
        sections: dict[str, Section] = {}
        async with limits.scratch_database(server_url) as scratch:
            log("asyncpg single-row INSERTs")
            inserts: Measurement | None = None
            try:
                inserts = summarise(
                    f"asyncpg single-row INSERTs, {cfg.db_connections} connections",
                    "rows/s",
                    [
                        await limits.single_inserts(
                            scratch, count=cfg.writes, concurrency=cfg.db_connections, time_cap=cfg.time_cap
                        )
                        for _ in range(cfg.repetitions)
                    ],
                )
            except Exception:  # e.g. the shared server refusing more connections: report without it
                traceback.print_exc()
            log("section 2: single writes")
            writes = Section("writes", "2. Single writes under concurrency")
            try:
                priced = await pricing_programme(world, await make_cast(platform))
                spread = await spread_programmes(world, cfg.spread)
                writes, _ = await writes_section(world, main, hello, inserts, _wrk_hello(wrk), priced, spread)
            except Exception as exc:
                traceback.print_exc()
                writes.failed(f"{type(exc).__name__}: {str(exc)[:400]}")
            sections["writes"] = writes
            log("section 1: bulk ingestion")
            sections["bulk"] = await _guard(
                Section("bulk", "1. Bulk ingestion (NDJSON)"), bulk_section(world, main, scratch)
            )
        seeding: dict[str, Any] = {}
        log(f"growth: claims and SQL seeding to {cfg.growth_small} and {cfg.growth_large} events")
        try:
            small_sized, seeding["small"] = await prepare_sized(world, small, cfg.growth_small)
            large_sized, seeding["large"] = await prepare_sized(world, large, cfg.growth_large)
        except Exception as exc:
            traceback.print_exc()
            reason = f"seeding the ledger failed: {type(exc).__name__}: {str(exc)[:400]}"
            sections["feed"] = Section("feed", "3. Feed pull").failed(reason)
            sections["growth"] = Section("growth", "5. Growth").failed(reason)
        else:
            log("section 3: feed pull")
            database_url = platform.database_urls["outcomes"]
            sections["feed"] = await _guard(
                Section("feed", "3. Feed pull"), feed_section(world, large, database_url)
            )
        log("section 4: gateway")
        sections["gateway"] = await _guard(
            Section("gateway", "4. Gateway dashboard query"),
            _dashboard(world, platform, main),
        )
        log("section 5: growth")
        if "growth" not in sections:
            sections["growth"] = await _guard(
                Section("growth", "5. Growth"), growth_section(world, small_sized, large_sized)
            )
    ordered = [sections[k] for k in ("bulk", "writes", "feed", "gateway", "growth")]
    generator = f"bench.loadgen (aiohttp, keep-alive, {cfg.concurrency} workers, fixed count + time cap)"
    return {
        "started": started,
        "mode": "quick" if cfg.quick else "full",
        "repetitions": cfg.repetitions,
        "concurrency": cfg.concurrency,
        "config": {k: v for k, v in vars(cfg).items()},
        "machine": machine,
        "load_generator": generator,
        "baseline": [m.as_dict() for m in baseline],
        "wrk": wrk,
        "seeding": seeding,
        "sections": [s.as_dict() for s in ordered],
        "_objects": (ordered, baseline),
    }


async def measure_pricing(platform: Any, server_url: str, cfg: Config) -> dict[str, Any]:
    """Section 2's pricing row alone (`--pricing`): verifications under version-2 terms with volume tiers
    and a count cap binding, beside verifications under today's flat version-1 terms, the same number each,
    interleaved repetition by repetition so both see the same machine."""
    started = report.now()
    machine = await report.describe_machine(server_url)
    async with loadgen.session(cfg.concurrency * 4) as client:
        world = World(platform, server_url, cfg, client, Auth(platform))
        flat_cast, priced_cast = await asyncio.gather(make_cast(platform), make_cast(platform))
        flat, priced = await programme(world, flat_cast), await pricing_programme(world, priced_cast)
        for prog in (flat, priced):  # warm: token keys fetched, pools open, the registry's terms cached
            ready = await enrol_confirm_claim(world, prog, 4, 4)
            await verify_claims(world, prog, ready.claim_ids, 4)
        runs: dict[str, list[Any]] = {"flat": [], "priced": []}
        for repetition in range(cfg.repetitions):
            for name, prog in (("flat", flat), ("priced", priced)):
                log(f"pricing row: {name} terms, repetition {repetition + 1} of {cfg.repetitions}")
                ready = await enrol_confirm_claim(world, prog, cfg.writes, cfg.concurrency)
                runs[name].append(await verify_claims(world, prog, ready.claim_ids, cfg.concurrency))
        c = cfg.concurrency
        rows = [
            summarise(f"verifications, flat version-1 terms ({c} clients)", "req/s", runs["flat"]),
            summarise(f"verifications with tiers and caps binding ({c} clients)", "req/s", runs["priced"]),
        ]
        counted = await world.get(
            "outcomes",
            f"/v1/partnerships/{priced_cast.partnership_id}/outcome-aggregates",
            priced_cast.payer_a,
        )
    return {
        "started": started,
        "mode": "pricing row",
        "repetitions": cfg.repetitions,
        "concurrency": cfg.concurrency,
        "writes": cfg.writes,
        "machine": machine,
        "measurements": [m.as_dict() for m in rows],
        "priced_aggregates": counted,
        "_rows": rows,
    }


def _wrk_hello(wrk: dict[str, Any]) -> Measurement | None:
    """wrk's hello-world figure as a limit: wrk costs far less CPU per request than the asyncio client, so
    when the client's ceiling is near the hello-world figure this is the server-bound limit."""
    figures = next((v for k, v in wrk.items() if k.startswith("FastAPI hello-world")), None)
    if not figures:
        return None
    return Measurement(
        name="FastAPI hello-world under wrk (1 run)",
        unit="req/s",
        throughput=figures["throughput"],
        p50_ms=figures.get("p50_ms", float("nan")),
        p99_ms=figures.get("p99_ms", float("nan")),
        ops=0,
        errors=0,
        repetitions=1,
        runs=[figures],
    )


async def _dashboard(world: Any, platform: Any, busy: Any) -> Section:
    return await gateway_section(world, await dashboard_programme(world, await make_cast(platform)), busy)


def start_gateway(platform: Any) -> None:
    """The gateway is optional for the bench: if it does not come up, its section says so."""
    try:
        platform.start_one("gateway")
        platform.wait_ready(timeout=60)
    except (RuntimeError, TimeoutError) as exc:
        print(f"gateway unavailable: {exc}", file=sys.stderr)
        platform.stop_one("gateway", kill=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a correctness smoke run (< 2 min)")
    parser.add_argument("--repetitions", type=int, default=3, help="repetitions per figure (median; >= 3)")
    parser.add_argument(
        "--json", type=Path, help="default: bench/results/latest.json (quick.json if --quick)"
    )
    parser.add_argument("--markdown", type=Path, help="default: docs/benchmarks.md (bench/results/quick.md)")
    parser.add_argument(
        "--pricing",
        action="store_true",
        help="only section 2's pricing row (tiers and caps binding beside flat terms); prints its table and "
        "writes bench/results/pricing.json, leaving docs/benchmarks.md alone",
    )
    parser.add_argument(
        "--singles",
        action="store_true",
        help="only section 2 (single enrolments, confirmations, claims in one partnership and spread over "
        "16, and verifications at 32 clients beside hello-world); prints its table and ratios, leaving "
        "docs/benchmarks.md alone",
    )
    parser.add_argument(
        "--writes",
        type=int,
        help="writes per repetition (with --pricing: verifications, default 500; with --singles: of each "
        "kind, default 2 000)",
    )
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="only section 1 (bulk enrolments, confirmations, claims and verifications beside COPY); prints "
        "its table and ratios, leaving docs/benchmarks.md alone",
    )
    parser.add_argument("--bulk-lines", type=int, help="lines per bulk request (with --bulk; default 10 000)")
    args = parser.parse_args(argv)
    if args.pricing:
        return _pricing_only(args)
    if args.bulk:
        return _bulk_only(args)
    if args.singles:
        return _singles_only(args)
    # A smoke run never overwrites the recorded full run's figures.
    results = ROOT / "bench" / "results"
    args.json = args.json or results / ("quick.json" if args.quick else "latest.json")
    args.markdown = args.markdown or (results / "quick.md" if args.quick else ROOT / "docs" / "benchmarks.md")
    cfg = replace(QUICK if args.quick else FULL, repetitions=max(3, args.repetitions))
    work = Path(tempfile.mkdtemp(prefix="effekt-bench-"))
    began = time.perf_counter()
    log(f"starting the platform ({'quick' if cfg.quick else 'full'} run; logs in {work / 'logs'})")
    with (
        postgres_server(work) as server_url,
        running_platform(server_url, work / "logs", extra_env=platform_env(cfg), only=CORE) as platform,
    ):
        start_gateway(platform)
        log("platform ready")
        payload = asyncio.run(measure(platform, server_url, cfg, work / "logs"))
    sections, baseline = payload.pop("_objects")
    payload["seconds"] = round(time.perf_counter() - began, 1)
    if loadgen.wrk_available():
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
        payload["load_generator"] += f"; cross-checked with {version.split(' [')[0].strip() or 'wrk'}"
    report.write_json(args.json, payload)
    text = report.markdown(payload, sections, baseline)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(_document(text, quick=cfg.quick))
    print(text)
    failed = [s for s in sections if s.status == "failed"]
    if failed:
        print(f"failed sections: {', '.join(s.key for s in failed)}; logs kept in {work}", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _pricing_only(args: argparse.Namespace) -> int:
    cfg = replace(FULL, repetitions=max(3, args.repetitions), writes=args.writes or 500)
    work = Path(tempfile.mkdtemp(prefix="effekt-bench-"))
    began = time.perf_counter()
    log(f"starting the platform (pricing row only; logs in {work / 'logs'})")
    with (
        postgres_server(work) as server_url,
        running_platform(server_url, work / "logs", extra_env=platform_env(cfg), only=CORE) as platform,
    ):
        log("platform ready")
        payload = asyncio.run(measure_pricing(platform, server_url, cfg))
    rows = payload.pop("_rows")
    payload["seconds"] = round(time.perf_counter() - began, 1)
    report.write_json(args.json or ROOT / "bench" / "results" / "pricing.json", payload)
    print("| | Measurement | Throughput | p50 ms | p99 ms | ops | reps |\n|---|---|---|---|---|---|---|")
    print("\n".join(report.row("Effekt", m) for m in rows))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(m.errors == 0 for m in rows) else 1


def _print_section(section: Section) -> None:
    print("| | Measurement | Throughput | p50 ms | p99 ms | ops | reps |\n|---|---|---|---|---|---|---|")
    print("\n".join(report.row("Raw", m) for m in section.limits))
    print("\n".join(report.row("Effekt", m) for m in section.measurements))
    for r in section.ratios:
        value = "n/a" if r.value is None else f"{r.value:.3f}"
        print(f"{r.name}: {value} (target {r.comparison} {r.target})")
    for note in section.notes:
        print(note)


def _singles_only(args: argparse.Namespace) -> int:
    cfg = replace(FULL, repetitions=max(3, args.repetitions), writes=args.writes or FULL.writes)
    work = Path(tempfile.mkdtemp(prefix="effekt-bench-"))
    log(f"starting the platform (single writes only; logs in {work / 'logs'})")
    with (
        postgres_server(work) as server_url,
        running_platform(server_url, work / "logs", extra_env=platform_env(cfg), only=CORE) as platform,
    ):
        log("platform ready")
        section = asyncio.run(_measure_singles(platform, server_url, cfg, work / "logs"))
    _print_section(section)
    if section.status == "failed":
        print(f"logs kept in {work}", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


async def _measure_singles(platform: Any, server_url: str, cfg: Config, log_dir: Path) -> Section:
    """Section 2 as the full run measures it: hello-world (and wrk's figure) in the same run first, the
    asyncpg INSERT limit, then the single writes of a flat programme and of one with tiers and caps."""
    async with loadgen.session(cfg.concurrency * 4) as client:
        world = World(platform, server_url, cfg, client, Auth(platform))
        _, hello, wrk = await _http_limits(world, log_dir)
        main_cast, priced_cast = await asyncio.gather(make_cast(platform), make_cast(platform))
        main = await programme(world, main_cast)
        await world.get(  # warm: token keys fetched, pools open
            "outcomes", f"/v1/partnerships/{main_cast.partnership_id}/outcome-aggregates", main_cast.payer_a
        )
        async with limits.scratch_database(server_url) as scratch:
            log("asyncpg single-row INSERTs")
            inserts = summarise(
                f"asyncpg single-row INSERTs, {cfg.db_connections} connections",
                "rows/s",
                [
                    await limits.single_inserts(
                        scratch, count=cfg.writes, concurrency=cfg.db_connections, time_cap=cfg.time_cap
                    )
                    for _ in range(cfg.repetitions)
                ],
            )
        log("section 2: single writes")
        priced = await pricing_programme(world, priced_cast)
        spread = await spread_programmes(world, cfg.spread)
        section, _ = await writes_section(world, main, hello, inserts, _wrk_hello(wrk), priced, spread)
        return section


def _bulk_only(args: argparse.Namespace) -> int:
    cfg = replace(FULL, repetitions=max(3, args.repetitions), bulk_lines=args.bulk_lines or FULL.bulk_lines)
    work = Path(tempfile.mkdtemp(prefix="effekt-bench-"))
    log(f"starting the platform (bulk section only; logs in {work / 'logs'})")
    with (
        postgres_server(work) as server_url,
        running_platform(server_url, work / "logs", extra_env=platform_env(cfg), only=CORE) as platform,
    ):
        log("platform ready")
        section = asyncio.run(_measure_bulk(platform, server_url, cfg))
    _print_section(section)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if section.status == "ok" else 1


async def _measure_bulk(platform: Any, server_url: str, cfg: Config) -> Section:
    async with loadgen.session(cfg.concurrency * 4) as client:
        world = World(platform, server_url, cfg, client, Auth(platform))
        async with client.get(platform.url("outcomes") + "/openapi.json") as response:
            world.openapi["outcomes"] = orjson.loads(await response.read())
        prog = await programme(world, await make_cast(platform))
        async with limits.scratch_database(server_url) as scratch:
            return await bulk_section(world, prog, scratch)


def _document(results: str, *, quick: bool) -> str:
    head = (ROOT / "bench" / "preamble.md").read_text()
    return head.rstrip() + "\n\n## Results" + (" (quick smoke run)" if quick else "") + "\n\n" + results
