"""Profile the claim/verify hot path: py-spy samples the outcome service (and, optionally, another
service) while 32 clients enrol, confirm, claim and verify, then prints where the time went.

    .venv/bin/pip install py-spy          # a tool, not a dependency of the project
    .venv/bin/python -m bench.profile [--writes 400] [--service outcomes] [--out /tmp/outcomes.txt]
    .venv/bin/python -m bench.profile --claims-over 16 [--writes 400]   # claims spread over 16 partnerships

The output is py-spy's collapsed stacks (one line per stack, with its sample count), summarised as the
functions that hold the most samples, inclusive and self, limited to the project and its libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.config import FULL, QUICK, platform_env
from bench.scenarios import (
    Auth,
    World,
    _claim_file,
    _eligibility_file,
    _enrolment_file,
    _post_bulk,
    enrol_confirm_claim,
    programme,
    pull_feed,
    spread_claims,
    spread_programmes,
    verify_claims,
)
from bench.seed import seed_ledger
from effekt.sandbox.cast import make_cast
from effekt.sandbox.platform import postgres_server, running_platform


def _frame(raw: str) -> str:
    name, _, where = raw.partition(" (")
    path = where.rstrip(")").split(":")[0]
    short = path.split("site-packages/")[-1] if "site-packages/" in path else path.split("/work/main/")[-1]
    return f"{name} [{short}]"


def summarise_stacks(collapsed: str, top: int = 40) -> str:
    """Where the event loop's thread spent its samples (worker threads, mostly idle, are left out)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if "Server.run" not in stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not total:
        return "no samples from the event loop's thread"
    ours = [(f, n) for f, n in inclusive.most_common() if "services/" in f or "kit/" in f or "httpx" in f]
    lines = [f"{total} samples on the event loop's thread", "", "inclusive (project code and httpx):"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in ours[:top]]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top // 2)]
    return "\n".join(lines)


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def _bulk(world: World, prog: Any, lines: int) -> None:
    """Enrolments, eligibility confirmations and claims, one file each."""
    path = f"/v1/partnerships/{prog.cast.partnership_id}/bulk-imports"
    cast = prog.cast
    run, problems, ids = await _post_bulk(world, cast.provider_machine, path, [_enrolment_file(prog, lines)])
    report = [("enrolments", run, problems)]
    for name, actor, make in (
        ("eligibility", cast.payer_a, _eligibility_file),
        ("claims", cast.provider_machine, _claim_file),
    ):
        run, problems, _ = await _post_bulk(world, actor, path, [make(ids)])
        report.append((name, run, problems))
    for name, run, problems in report:
        print(f"{name}: {run.ops * run.unit_per_op:.0f} of {lines} accepted in {run.seconds:.2f} s")
        for problem in problems[:1]:
            print(f"  e.g. {problem}")


async def _feed(world: World, prog: Any, events: int) -> None:
    """An investor machine pulling `events` events in pages of 1 000, as section 3 does."""
    database_url = world.platform.database_urls["outcomes"]  # type: ignore[attr-defined]
    await enrol_confirm_claim(world, prog, 4, 4)  # real events for the seeder to copy
    await seed_ledger(database_url, prog.cast.partnership_id, events)
    run = await pull_feed(world, prog.cast.investor_machine, prog.cast.partnership_id, events, 1000)
    print(f"feed: {run.ops} events in {run.seconds:.2f} s, p50 page {run.percentile(0.5):.1f} ms")


async def _spread(world: World, writes: int, partnerships: int) -> None:
    """`writes` single claims shared round robin among `partnerships` partnerships' providers."""
    progs = await spread_programmes(world, partnerships)
    run = await spread_claims(world, progs, writes, world.config.concurrency)
    p50, p99 = run.percentile(0.5), run.percentile(0.99)
    print(
        f"claims over {partnerships} partnerships: {run.throughput:.1f} req/s, p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms, errors {run.errors}"
    )


async def _load(
    platform: Any,
    writes: int,
    pid: int,
    out: Path,
    bulk_lines: int = 0,
    feed_events: int = 0,
    claims_over: int = 0,
) -> None:
    cfg = replace(QUICK, time_cap=120.0)
    async with loadgen.session(cfg.concurrency * 2) as client:
        world = World(platform, "", cfg, client, Auth(platform))
        prog = await programme(world, await make_cast(platform))
        spy = await asyncio.create_subprocess_exec(
            *(
                py_spy() or "py-spy",
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(out),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.sleep(1.0)
            if bulk_lines:
                await _bulk(world, prog, bulk_lines)
                return
            if feed_events:
                await _feed(world, prog, feed_events)
                return
            if claims_over:
                await _spread(world, writes, claims_over)
                return
            r = await enrol_confirm_claim(world, prog, writes, cfg.concurrency)
            v = await verify_claims(world, prog, r.claim_ids, cfg.concurrency)
            for name, run in (("enrol", r.enrol), ("confirm", r.confirm), ("claim", r.claim), ("verify", v)):
                p50 = run.percentile(0.5)
                print(f"{name}: {run.throughput:.1f} req/s, p50 {p50:.0f} ms, errors {run.errors}")
        finally:
            spy.send_signal(signal.SIGINT)
            await asyncio.wait_for(spy.wait(), 60)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument(
        "--bulk", type=int, default=0, help="profile a bulk import of this many lines instead"
    )
    parser.add_argument("--feed", type=int, default=0, help="profile a feed pull of this many events instead")
    parser.add_argument(
        "--claims-over",
        type=int,
        default=0,
        help="profile --writes single claims spread over this many partnerships instead",
    )
    parser.add_argument("--service", default="outcomes")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if py_spy() is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="effekt-profile-"))
    out = args.out or work / f"{args.service}.txt"
    with (  # the deployed pools, as the full run's
        postgres_server(work) as server_url,
        running_platform(server_url, work / "logs", extra_env=platform_env(FULL)) as platform,
    ):
        pid = platform.processes[args.service].pid
        asyncio.run(_load(platform, args.writes, pid, out, args.bulk, args.feed, args.claims_over))
    print(summarise_stacks(out.read_text()))
    print(f"\ncollapsed stacks: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
