"""The five Effekt sections, each measured against the running platform and the raw limits.

A section whose endpoint the platform does not (yet) offer reports "not available: <reason>" after probing
the services' OpenAPI documents (or the gateway's `/graphql`), and runs unchanged once the endpoint appears.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import aiohttp
import orjson
from strawberry.relay import GlobalID

from bench import limits
from bench.config import Config
from bench.loadgen import HttpStatusError, Measurement, Operation, Run, drive, expect, summarise
from bench.results import Section, bound, ratio
from bench.seed import seed_ledger, vacuum_analyse
from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast, make_cast, token_for
from effekt.sandbox.identifiers import HERNING, sequential_cpr
from effekt.sandbox.signin import claims_of
from effekt.sandbox.terms import caps, standard_terms, v2_terms, window

TODAY = datetime.now(UTC).date()
ENROLLED_ON = TODAY - timedelta(days=100)
ACHIEVED_ON = TODAY - timedelta(days=50)
FEED_MEDIA_TYPE = "application/cloudevents-batch+json"


class Auth:
    """Fresh bearer headers per actor: tokens live minutes and a full run takes longer."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.tokens: dict[int, str] = {}

    async def headers(self, actor: Actor) -> dict[str, str]:
        token = self.tokens.get(id(actor), actor.token)
        if claims_of(token)["exp"] - 300 < time.time():
            token = await token_for(self.platform, actor)
            self.tokens[id(actor)] = token
        return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """Everything the sections share: the platform, one HTTP session, the casts and their contracts."""

    platform: Platform
    server_url: str
    config: Config
    client: aiohttp.ClientSession
    auth: Auth
    openapi: dict[str, dict[str, Any]] = field(default_factory=dict)  # service -> document

    def url(self, service: str, path: str) -> str:
        return self.platform.url(service) + path

    async def post(self, service: str, path: str, actor: Actor, body: Any, status: int = 201) -> Any:
        headers = {**await self.auth.headers(actor), "Idempotency-Key": secrets.token_hex(12)}
        async with self.client.post(self.url(service, path), json=body, headers=headers) as response:
            return orjson.loads(await expect(response, status))

    async def vacuum_analyse(self) -> None:
        """VACUUM and ANALYZE the service databases before a timed run (bench/preamble.md: statistics)."""
        await vacuum_analyse(self.platform.database_urls.values())  # type: ignore[attr-defined]

    async def get(self, service: str, path: str, actor: Actor, params: dict[str, str] | None = None) -> Any:
        headers = await self.auth.headers(actor)
        async with self.client.get(self.url(service, path), params=params, headers=headers) as response:
            return orjson.loads(await expect(response, 200))


@dataclass
class Programme:
    """A cast with an active contract, and the participants/claims made in it so far."""

    cast: Cast
    contract_id: UUID
    next_index: int = 0

    def take(self, n: int) -> range:
        start = self.next_index
        self.next_index += n
        return range(start, start + n)


async def programme(world: World, cast: Cast) -> Programme:
    """An active refugee-employment contract (realistic caps, so pricing locks its cap counters)."""
    terms = standard_terms(cast.parties, caps=caps("60000.00", "900000000.00"), max_participants=None)
    return await _signed(world, cast, terms)


async def pricing_programme(world: World, cast: Cast) -> Programme:
    """A schema-version-2 contract whose pricing does the most work per verification: volume tiers (the
    first 10 at one price), a per-outcome count cap that binds after 30 (so even a quick run prices past
    both), per-participant and contract caps: a partnership of its own (one active contract at a time)."""
    job_start = {
        "code": "job_start",
        "name": "Job start",
        "verifier_roles": ["outcome_payer"],
        "window": window(),
        "tiers": [{"up_to": 10, "tariff": "20000.00"}, {"up_to": None, "tariff": "15000.00"}],
        "cap": {"count": 30},
    }
    terms = v2_terms(
        cast.parties,
        outcomes=[job_start],
        caps={"per_participant": "60000.00", "contract_total": "900000000.00"},
        split={
            "method": "fixed",
            "shares": [{"organisation_id": str(cast.payer_a.organisation_id), "percent": "100"}],
        },
        max_participants=None,
    )
    return await _signed(world, cast, terms)


async def _signed(world: World, cast: Cast, terms: dict[str, Any]) -> Programme:
    created = await world.post(
        "contracts",
        "/v1/contracts",
        cast.provider,
        {"partnership_id": str(cast.partnership_id), "terms": terms},
    )
    version_id = created["versions"][0]["id"]
    proposed = await world.post(
        "contracts", f"/v1/contract-versions/{version_id}/proposal", cast.provider, None, 200
    )
    for signer in (cast.payer_a, cast.payer_b, cast.provider):
        signed = await world.post(
            "contracts",
            f"/v1/contract-versions/{version_id}/signatures",
            signer,
            {"content_hash": proposed["content_hash"]},
        )
    if signed["status"] != "active":
        raise RuntimeError(f"the bench contract did not become active: {signed['status']}")
    return Programme(cast, UUID(created["id"]))


# --- the write path: enrol, confirm, claim, verify --------------------------------------------------------


async def _timed_posts(
    world: World, actor: Actor, path_and_body: list[tuple[str, Any]], status: int, concurrency: int
) -> tuple[Run, list[Any]]:
    """POST each (path, body) once with its own Idempotency-Key; returns the run and the responses."""
    return await _timed_posts_as(
        world, [(actor, path, body) for path, body in path_and_body], status, concurrency
    )


async def _timed_posts_as(
    world: World, requests: list[tuple[Actor, str, Any]], status: int, concurrency: int
) -> tuple[Run, list[Any]]:
    """POST each (actor, path, body) once as that actor with its own Idempotency-Key; returns the run and
    the responses. Tokens are fetched before the clock starts."""
    actors = {id(actor): actor for actor, _, _ in requests}
    headers = {key: await world.auth.headers(actor) for key, actor in actors.items()}
    results: list[Any] = [None] * len(requests)

    async def op(i: int) -> None:
        actor, path, body = requests[i]
        request_headers = {**headers[id(actor)], "Idempotency-Key": f"bench-{secrets.token_hex(12)}"}
        async with world.client.post(
            world.url("outcomes", path), json=body, headers=request_headers
        ) as response:
            results[i] = orjson.loads(await expect(response, status))

    await world.vacuum_analyse()
    run = await drive(op, count=len(requests), concurrency=concurrency, time_cap=world.config.time_cap)
    return run, results


@dataclass
class WriteRound:
    enrol: Run
    confirm: Run
    claim: Run
    claim_ids: list[str]


async def enrol_confirm_claim(world: World, prog: Programme, n: int, concurrency: int) -> WriteRound:
    """n new participants through enrolment, eligibility confirmation and a job-start claim."""
    enrol, confirm, ids = await _enrol_confirm(world, prog, n, concurrency)
    claim, claims = await _timed_posts(
        world, prog.cast.provider_machine, [_claim_body(i) for i in ids], 201, concurrency
    )
    return WriteRound(enrol, confirm, claim, [c["id"] for c in claims if c is not None])


async def _enrol_confirm(
    world: World, prog: Programme, n: int, concurrency: int
) -> tuple[Run, Run, list[str]]:
    """n new participants enrolled and confirmed eligible; returns both runs and the participants' ids."""
    cast = prog.cast
    bodies = [
        (
            "/v1/participants",
            {
                "partnership_id": str(cast.partnership_id),
                "contract_id": str(prog.contract_id),
                "cpr": sequential_cpr(i),
                "municipality_code": HERNING,
                "enrolment_date": ENROLLED_ON.isoformat(),
            },
        )
        for i in prog.take(n)
    ]
    enrol, participants = await _timed_posts(world, cast.provider_machine, bodies, 201, concurrency)
    ids = [p["id"] for p in participants if p is not None]
    confirm, _ = await _timed_posts(
        world,
        cast.payer_a,
        [(f"/v1/participants/{i}/eligibility-confirmation", None) for i in ids],
        200,
        concurrency,
    )
    return enrol, confirm, ids


def _claim_body(participant_id: str) -> tuple[str, Any]:
    return (
        "/v1/outcome-claims",
        {
            "participant_id": participant_id,
            "outcome_code": "job_start",
            "achievement_date": ACHIEVED_ON.isoformat(),
            "evidence_reference": "eIndkomst extract",
        },
    )


async def spread_programmes(world: World, count: int) -> list[Programme]:
    """`count` partnerships, each with its own cast and active contract, made four at a time."""
    gate = asyncio.Semaphore(4)

    async def one() -> Programme:
        async with gate:
            return await programme(world, await make_cast(world.platform))

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def spread_claims(world: World, progs: list[Programme], n: int, concurrency: int) -> Run:
    """n claims shared round robin among the programmes' partnerships, each posted by its own provider's
    machine client, so neighbouring requests name different partnerships (and form different groups).
    Only the claims are timed; their participants are enrolled and confirmed first."""
    share = -(-n // len(progs))
    ready = [(prog, (await _enrol_confirm(world, prog, share, concurrency))[2]) for prog in progs]
    requests = [
        (prog.cast.provider_machine, *_claim_body(ids[i]))
        for i in range(share)
        for prog, ids in ready
        if i < len(ids)
    ][:n]
    run, _ = await _timed_posts_as(world, requests, 201, concurrency)
    return run


async def verify_claims(world: World, prog: Programme, claim_ids: list[str], concurrency: int) -> Run:
    run, _ = await _timed_posts(
        world,
        prog.cast.payer_a,
        [(f"/v1/outcome-claims/{c}/verification", {"decision": "verified"}) for c in claim_ids],
        200,
        concurrency,
    )
    return run


async def idempotent_replay_holds(world: World, prog: Programme) -> str:
    """One claim posted twice with one key: the second answer must be the first, and nothing new is made."""
    (index,) = prog.take(1)
    cast = prog.cast
    participant = await world.post(
        "outcomes",
        "/v1/participants",
        cast.provider_machine,
        {
            "partnership_id": str(cast.partnership_id),
            "contract_id": str(prog.contract_id),
            "cpr": sequential_cpr(index),
            "municipality_code": HERNING,
            "enrolment_date": ENROLLED_ON.isoformat(),
        },
    )
    await world.post(
        "outcomes", f"/v1/participants/{participant['id']}/eligibility-confirmation", cast.payer_a, None, 200
    )
    body = {
        "participant_id": participant["id"],
        "outcome_code": "job_start",
        "achievement_date": ACHIEVED_ON.isoformat(),
        "evidence_reference": "eIndkomst extract",
    }
    headers = {**await world.auth.headers(cast.provider_machine), "Idempotency-Key": secrets.token_hex(12)}
    answers = []
    for _ in range(2):
        async with world.client.post(
            world.url("outcomes", "/v1/outcome-claims"), json=body, headers=headers
        ) as r:
            answers.append((r.status, orjson.loads(await r.read())))
    if answers[0][0] != 201 or answers[1] != answers[0]:
        raise RuntimeError(f"an Idempotency-Key replay did not return the first answer: {answers}")
    return "an Idempotency-Key replay of a claim returned the first answer unchanged"


async def writes_section(
    world: World,
    prog: Programme,
    hello: Measurement | None,
    inserts: Measurement | None,
    hello_wrk: Measurement | None = None,
    priced: Programme | None = None,
    spread: list[Programme] | None = None,
) -> tuple[Section, list[str]]:
    """Section 2: single claims (in one partnership, and spread over `spread`'s) and verifications at 32
    clients; returns the verified claim ids too."""
    section = Section("writes", "2. Single writes under concurrency")
    cfg = world.config
    rounds: list[WriteRound] = []
    verifies: list[Run] = []
    verified: list[str] = []
    for _ in range(cfg.repetitions):
        r = await enrol_confirm_claim(world, prog, cfg.writes, cfg.concurrency)
        rounds.append(r)
        verifies.append(await verify_claims(world, prog, r.claim_ids, cfg.concurrency))
        verified.extend(r.claim_ids)
    spread_runs: list[Run] = []
    for _ in range(cfg.repetitions if spread else 0):
        assert spread is not None
        spread_runs.append(await spread_claims(world, spread, cfg.writes, cfg.concurrency))
    tiered: list[Run] = []
    for _ in range(cfg.repetitions if priced is not None else 0):
        assert priced is not None
        r = await enrol_confirm_claim(world, priced, cfg.writes, cfg.concurrency)
        tiered.append(await verify_claims(world, priced, r.claim_ids, cfg.concurrency))
    c = cfg.concurrency
    n = len(spread or [])
    spread_figure = (
        summarise(f"claims spread over {n} partnerships ({c} clients)", "req/s", spread_runs)
        if spread_runs
        else None
    )
    tiered_figure = (
        summarise(f"verifications with tiers and caps binding ({c} clients)", "req/s", tiered)
        if tiered
        else None
    )
    section.measurements = [
        summarise(f"enrolments (POST /v1/participants, {c} clients)", "req/s", [r.enrol for r in rounds]),
        summarise(f"eligibility confirmations ({c} clients)", "req/s", [r.confirm for r in rounds]),
        claims := summarise(
            f"claims (POST /v1/outcome-claims, {c} clients)", "req/s", [r.claim for r in rounds]
        ),
        *([spread_figure] if spread_figure else []),
        verifs := summarise(f"verifications (POST .../verification, {c} clients)", "req/s", verifies),
        *([tiered_figure] if tiered_figure else []),
    ]
    section.limits = [m for m in (hello, hello_wrk, inserts) if m is not None]
    section.ratios = [
        ratio("claims / FastAPI hello-world req/s", claims, hello, "throughput", 0.10, ">="),
        bound("claims p99 ms, one partnership", claims, "p99_ms", 250, "<"),
        *(
            [
                ratio(
                    f"claims spread over {n} / FastAPI hello-world req/s",
                    spread_figure,
                    hello,
                    "throughput",
                    0.10,
                    ">=",
                ),
                bound(
                    f"claims p99 ms, spread over {n}",
                    spread_figure,
                    "p99_ms",
                    250,
                    "<",
                ),
            ]
            if spread_figure
            else []
        ),
        ratio("verifications / FastAPI hello-world req/s", verifs, hello, "throughput", 0.08, ">="),
        *(
            [
                ratio(
                    "verifications with tiers and caps binding / FastAPI hello-world req/s",
                    tiered_figure,
                    hello,
                    "throughput",
                    0.08,
                    ">=",
                )
            ]
            if tiered_figure
            else []
        ),
        *(
            [
                ratio(
                    "claims / hello-world under wrk (server-bound)",
                    claims,
                    hello_wrk,
                    "throughput",
                    0.10,
                    ">=",
                )
            ]
            if hello_wrk
            else []
        ),
        ratio(
            "claims / asyncpg single-row INSERTs per s",
            claims,
            inserts,
            "throughput",
            0.0,
            ">=",
            informational=True,
        ),
    ]
    section.notes.append(
        "Every write carries its own Idempotency-Key, is validated, authorised and appended to the "
        "partnership's hash-chained ledger; verification prices the claim under the contract's cap counters."
    )
    section.notes.append(await idempotent_replay_holds(world, prog))
    return section, verified


# --- bulk ingestion ---------------------------------------------------------------------------------------


def find_bulk_path(openapi: dict[str, Any]) -> str | None:
    """The outcome service's POST operation that takes or answers NDJSON (issue 6's bulk import), if any;
    one whose path names a bulk import wins over others (an NDJSON export, say)."""
    found: list[str] = []
    for path, operations in openapi.get("paths", {}).items():
        post = operations.get("post")
        if not post:
            continue
        media = set((post.get("requestBody") or {}).get("content", {}))
        for response in post.get("responses", {}).values():
            media |= set(response.get("content", {}))
        if any("ndjson" in m for m in media):
            found.append(str(path))
    return next((p for p in found if "bulk" in p or "import" in p), found[0] if found else None)


def _line_results(body: bytes, content_type: str) -> list[dict[str, Any]]:
    if "ndjson" in content_type:
        return [orjson.loads(line) for line in body.splitlines() if line.strip()]
    data = orjson.loads(body)
    if isinstance(data, dict):
        data = data.get("results") or data.get("items") or data.get("lines") or []
    return list(data)


def _accepted(result: dict[str, Any]) -> bool:
    outcome = str(result.get("result") or result.get("status") or result.get("outcome") or "").lower()
    return outcome in ("accepted", "created", "ok", "201", "200")


def _ndjson(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE) for line in lines)


def _enrolment_file(prog: Programme, lines: int) -> bytes:
    """NDJSON enrolment lines, each with its own external reference (the per-line idempotency key)."""
    salt = secrets.token_hex(4)
    return _ndjson(
        [
            {
                "kind": "enrolment",
                "external_reference": f"bench-{salt}-{i}",
                "contract_id": str(prog.contract_id),
                "cpr": sequential_cpr(i),
                "municipality_code": HERNING,
                "enrolment_date": ENROLLED_ON.isoformat(),
            }
            for i in prog.take(lines)
        ]
    )


def _eligibility_file(participant_ids: list[str]) -> bytes:
    salt = secrets.token_hex(4)
    return _ndjson(
        [
            {"kind": "eligibility", "external_reference": f"bench-{salt}-{n}", "participant_id": pid}
            for n, pid in enumerate(participant_ids)
        ]
    )


def _claim_file(participant_ids: list[str]) -> bytes:
    salt = secrets.token_hex(4)
    return _ndjson(
        [
            {
                "kind": "claim",
                "external_reference": f"bench-{salt}-{n}",
                "participant_id": pid,
                "outcome_code": "job_start",
                "achievement_date": ACHIEVED_ON.isoformat(),
                "evidence_reference": "eIndkomst extract",
            }
            for n, pid in enumerate(participant_ids)
        ]
    )


def _verification_file(claim_ids: list[str]) -> bytes:
    salt = secrets.token_hex(4)
    return _ndjson(
        [
            {
                "kind": "verification",
                "external_reference": f"bench-{salt}-{n}",
                "claim_id": cid,
                "decision": "verified",
            }
            for n, cid in enumerate(claim_ids)
        ]
    )


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def _post_bulk(
    world: World, actor: Actor, path: str, files: list[bytes]
) -> tuple[Run, list[str], list[str]]:
    """POST the files one after another (one municipal system uploading); counts accepted lines.
    Returns the run, examples of refused lines, and the ids the accepted lines made."""
    headers = await world.auth.headers(actor)
    accepted = 0
    problems: list[str] = []
    ids: list[str] = []

    async def op(i: int) -> None:
        nonlocal accepted
        request_headers = {
            **headers,
            "Content-Type": "application/x-ndjson",
            "Idempotency-Key": secrets.token_hex(12),
        }
        async with world.client.post(
            world.url("outcomes", path), data=files[i], headers=request_headers
        ) as r:
            body = await expect(r, 200, 201, 207)
            results = _line_results(body, r.headers.get("Content-Type", ""))
        good = [x for x in results if _accepted(x)]
        accepted += len(good)
        ids.extend(str(x["id"]) for x in good if x.get("id"))
        if len(good) < len(results):
            problems.append(orjson.dumps(next(x for x in results if not _accepted(x))).decode()[:300])

    await world.vacuum_analyse()
    run = await drive(op, count=len(files), concurrency=1, time_cap=world.config.time_cap * 4)
    run.unit_per_op = accepted / max(run.ops, 1)
    return run, problems, ids


async def bulk_section(world: World, prog: Programme, scratch_dsn: str) -> Section:
    """Section 1: enrolments as NDJSON through the bulk endpoint, beside COPY of as many rows."""
    section = Section("bulk", "1. Bulk ingestion (NDJSON)")
    path = find_bulk_path(world.openapi.get("outcomes", {}))
    copies = [
        await limits.copy_rows(scratch_dsn, rows=world.config.bulk_lines)
        for _ in range(world.config.repetitions)
    ]
    copy = summarise(f"asyncpg COPY of {world.config.bulk_lines} claim-sized rows", "rows/s", copies)
    section.limits = [copy]
    if path is None:
        return section.unavailable(
            "the outcome service's OpenAPI has no POST operation accepting NDJSON (issue 6)"
        )
    cfg, cast = world.config, prog.cast
    path = path.replace("{partnership_id}", str(cast.partnership_id))
    enrolments: list[Run] = []
    confirmations: list[Run] = []
    claims: list[Run] = []
    verifications: list[Run] = []
    together: list[Run] = []
    for _ in range(cfg.repetitions):
        files = [_enrolment_file(prog, cfg.bulk_lines) for _ in range(cfg.bulk_requests)]
        enrolled, problems, participant_ids = await _post_bulk(world, cast.provider_machine, path, files)
        if enrolled.ops * enrolled.unit_per_op == 0:
            return section.failed(
                f"no bulk enrolment line was accepted: {problems[:1] or enrolled.first_error}"
            )
        chunks = _chunks(participant_ids, cfg.bulk_lines)
        confirmed, more, _ = await _post_bulk(
            world, cast.payer_a, path, [_eligibility_file(c) for c in chunks]
        )
        claimed, most, claim_ids = await _post_bulk(
            world, cast.provider_machine, path, [_claim_file(c) for c in chunks]
        )
        verified, rest, _ = await _post_bulk(
            world, cast.payer_a, path, [_verification_file(c) for c in _chunks(claim_ids, cfg.bulk_lines)]
        )
        enrolments.append(enrolled)
        confirmations.append(confirmed)
        claims.append(claimed)
        verifications.append(verified)
        lines = enrolled.ops * enrolled.unit_per_op + claimed.ops * claimed.unit_per_op
        seconds = enrolled.seconds + claimed.seconds
        together.append(Run(ops=1, errors=0, seconds=seconds, latencies=[seconds], unit_per_op=lines))
        for problem in (problems + more + most + rest)[:1]:
            section.notes.append(f"some lines were not accepted, e.g. {problem}")
    per_request = f"{cfg.bulk_lines} NDJSON lines per request"
    both = summarise(
        f"bulk enrolments + claims (the two files back to back), {per_request}", "rows/s", together
    )
    enrolled_m = summarise(f"bulk enrolments, {per_request}", "rows/s", enrolments)
    claimed_m = summarise(f"bulk claims, {per_request}", "rows/s", claims)
    verified_m = summarise(f"bulk verifications (priced), {per_request}", "rows/s", verifications)
    section.measurements = [
        both,
        enrolled_m,
        summarise(f"bulk eligibility confirmations, {per_request}", "rows/s", confirmations),
        claimed_m,
        verified_m,
    ]
    section.ratios = [
        ratio("bulk enrolment + claim rows/s / COPY rows/s", both, copy, "throughput", 0.25, ">="),
        ratio("bulk enrolment rows/s / COPY rows/s", enrolled_m, copy, "throughput", 0.25, ">="),
        # Issue 18's target for bulk claims; the ratio is bounded by the ~10 indexed rows a claim line writes.
        ratio("bulk claim rows/s / COPY rows/s", claimed_m, copy, "throughput", 0.05, ">="),
        ratio(
            "bulk verification lines/s / bulk claim lines/s", verified_m, claimed_m, "throughput", 0.5, ">="
        ),
    ]
    section.notes.append(
        f"POST {path.replace(str(cast.partnership_id), '{partnership_id}')}: a provider's machine client "
        "sends enrolment lines, the paying municipality eligibility lines for the participants made, then "
        "the provider a job-start claim line for each, then the municipality a verification line for each "
        "claim made (each priced under the cap counters); a line counts when its result is `accepted`. Every "
        "line is authenticated, validated, idempotent by its external reference and appended to the "
        "partnership's hash-chained ledger; COPY writes the same number of bare claim-sized rows."
    )
    return section


# --- the feed ---------------------------------------------------------------------------------------------


def feed_available(openapi: dict[str, Any]) -> bool:
    return "get" in openapi.get("paths", {}).get("/v1/feed", {})


def next_cursor(response: aiohttp.ClientResponse, body: Any) -> str | None:
    """The opaque cursor after this page: from a `Link: <...after=...>; rel="next"` header, a cursor
    header, a `next_cursor` envelope field, or the last event's `cursor` extension attribute."""
    for link in response.headers.getall("Link", []):
        for part in link.split(","):
            if 'rel="next"' in part and "<" in part:
                after = parse_qs(urlsplit(part[part.index("<") + 1 : part.index(">")]).query).get("after")
                if after:
                    return after[0]
    for name in ("Feed-Cursor", "Effekt-Next-Cursor", "Next-Cursor", "X-Next-Cursor", "X-Cursor"):
        if value := response.headers.get(name):
            return value
    if isinstance(body, dict):
        value = body.get("next_cursor") or body.get("cursor")
        return str(value) if value else None
    if body and isinstance(body[-1], dict) and body[-1].get("cursor"):
        return str(body[-1]["cursor"])
    return None


def cursor_position(cursor: str | None, partnership_id: UUID) -> int | None:
    """The partnership's last sequence in an Effekt feed cursor (base64url JSON), if it is one."""
    if not cursor:
        return None
    try:
        position = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(position[str(partnership_id)])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


async def feed_page(
    world: World,
    headers: dict[str, str],
    partnership_id: UUID,
    after: str | None,
    limit: int,
    *,
    parse: bool = True,
) -> tuple[int, str | None]:
    """(events on the page, the cursor after it). Without `parse` the page's bytes are read but not
    decoded, and its size is the cursor's advance: sequences are gapless, so that is exact."""
    params = {"limit": str(limit), "partnership": str(partnership_id)}
    if after is not None:
        params["after"] = after
    async with world.client.get(
        world.url("outcomes", "/v1/feed"), params=params, headers=headers
    ) as response:
        raw = await expect(response, 200)
        if not response.headers.get("Content-Type", "").startswith(FEED_MEDIA_TYPE):
            raise HttpStatusError(
                f"/v1/feed answered {response.headers.get('Content-Type')}, not {FEED_MEDIA_TYPE}"
            )
        if not parse:
            cursor = response.headers.get("Feed-Cursor")
            start, end = cursor_position(after, partnership_id) or 0, cursor_position(cursor, partnership_id)
            if end is not None and raw[:1] == b"[" and raw[-1:] == b"]":
                return end - start, cursor
        body = orjson.loads(raw)
        events = body if isinstance(body, list) else list(body.get("items", []))
        return len(events), next_cursor(response, body)


async def pull_feed(
    world: World, actor: Actor, partnership_id: UUID, events: int, page: int, *, parse: bool = True
) -> Run:
    """One consumer pulling `events` events in pages of `page`, following the cursor."""
    headers = await world.auth.headers(actor)
    latencies: list[float] = []
    read, cursor = 0, None
    started = time.perf_counter()
    while read < events:
        t0 = time.perf_counter()
        count, cursor = await feed_page(
            world, headers, partnership_id, cursor, min(page, events - read), parse=parse
        )
        latencies.append(time.perf_counter() - t0)
        read += count
        if not count or cursor is None:
            break
    return Run(ops=read, errors=0, seconds=time.perf_counter() - started, latencies=latencies)


async def pull_ledger(world: World, actor: Actor, partnership_id: UUID, events: int, page: int = 500) -> Run:
    """The same pull through today's `GET /v1/partnerships/{id}/ledger` (at most 500 per page)."""
    headers = await world.auth.headers(actor)
    url = world.url("outcomes", f"/v1/partnerships/{partnership_id}/ledger")
    latencies: list[float] = []
    read, after = 0, 0
    started = time.perf_counter()
    while read < events:
        t0 = time.perf_counter()
        params = {"after": str(after), "limit": str(min(page, events - read))}
        async with world.client.get(url, params=params, headers=headers) as response:
            items = orjson.loads(await expect(response, 200))["items"]
        latencies.append(time.perf_counter() - t0)
        if not items:
            break
        read += len(items)
        after = items[-1]["sequence"]
    return Run(ops=read, errors=0, seconds=time.perf_counter() - started, latencies=latencies)


async def feed_section(world: World, prog: Programme, database_url: str) -> Section:
    """Section 3: an investor system pulling `feed_events` events in pages of 1 000."""
    cfg = world.config
    section = Section("feed", f"3. Feed pull ({cfg.feed_events} events, pages of {cfg.feed_page})")
    pid = prog.cast.partnership_id
    raw = summarise(
        f"asyncpg keyset SELECT + orjson, pages of {cfg.feed_page}",
        "rows/s",
        [
            await limits.keyset_pull(database_url, pid, events=cfg.feed_events, page=cfg.feed_page)
            for _ in range(cfg.repetitions)
        ],
    )
    section.limits = [raw]
    investor = prog.cast.investor_machine
    if not feed_available(world.openapi.get("outcomes", {})):
        ledger = summarise(
            "stand-in: GET /v1/partnerships/{id}/ledger, pages of 500 (investor machine client)",
            "rows/s",
            [await pull_ledger(world, investor, pid, cfg.feed_events) for _ in range(cfg.repetitions)],
        )
        section.measurements = [ledger]
        section.ratios = [
            ratio(
                "ledger endpoint rows/s / raw rows/s (stand-in)",
                ledger,
                raw,
                "throughput",
                0.60,
                ">=",
                informational=True,
            )
        ]
        return section.unavailable(
            "the outcome service's OpenAPI has no GET /v1/feed (issue 6); "
            "the ledger endpoint is shown as a stand-in"
        )
    # Timed runs read each page's bytes as the limit produces them, without decoding them (the limit does
    # not decode either); one untimed pass decodes every page and must count the same events.
    checked = await pull_feed(world, investor, pid, cfg.feed_events, cfg.feed_page)
    runs = [
        await pull_feed(world, investor, pid, cfg.feed_events, cfg.feed_page, parse=False)
        for _ in range(cfg.repetitions)
    ]
    if any(r.ops != checked.ops for r in runs) or checked.ops < cfg.feed_events:
        return section.failed(
            f"the feed ended after {min(r.ops for r in runs)} of {cfg.feed_events} events "
            f"({checked.ops} when each page was decoded)"
        )
    feed = summarise(f"GET /v1/feed, pages of {cfg.feed_page} (investor machine client)", "rows/s", runs)
    section.measurements = [feed]
    section.ratios = [
        ratio("feed rows/s / raw keyset SELECT + JSON rows/s", feed, raw, "throughput", 0.60, ">=")
    ]
    section.notes.append(
        "The investor's machine client reads each page whole and follows the `Feed-Cursor` header, "
        "counting a page's events by the cursor's advance (sequences are gapless) rather than decoding "
        f"its JSON; a first, untimed pull decoded every page and counted the same {checked.ops} events. "
        f"Decoding would add the client's own orjson.loads of each page ({checked.seconds:.2f} s for "
        "that pull in all)."
    )
    return section


# --- the gateway ------------------------------------------------------------------------------------------

DASHBOARD = """
query Dashboard($id: ID!) {
  partnership(id: $id) {
    id name status
    contracts {
      id title
      activeVersion { id number status currency startDate endDate }
      statements { id periodStart periodEnd currency status total }
    }
    outcomeSummary {
      enrolled exited
      contracts { contractId currency earned pendingClaims pendingValue contractCap remainingCap }
    }
  }
}
"""


async def dashboard_programme(world: World, cast: Cast) -> Programme:
    """A partnership of `dashboard_participants` enrolled, eligible participants with a job-start claim
    each, half of them verified (by bulk import: enrolments, eligibility, claims, then decisions)."""
    prog = await programme(world, cast)
    n = world.config.dashboard_participants
    path = f"/v1/partnerships/{cast.partnership_id}/bulk-imports"
    _, _, ids = await _post_bulk(world, cast.provider_machine, path, [_enrolment_file(prog, n)])
    await _post_bulk(world, cast.payer_a, path, [_eligibility_file(ids)])
    _, _, claim_ids = await _post_bulk(world, cast.provider_machine, path, [_claim_file(ids)])
    salt = secrets.token_hex(4)
    decisions = [
        {"kind": "verification", "external_reference": f"v-{salt}-{i}", "claim_id": c, "decision": "verified"}
        for i, c in enumerate(claim_ids[: n // 2])
    ]
    _, problems, verified = await _post_bulk(world, cast.payer_a, path, [_ndjson(decisions)])
    if len(verified) != len(decisions):
        raise RuntimeError(f"the dashboard's claims were not all verified: {problems[:1]}")
    return prog


async def gateway_section(world: World, prog: Programme, busy: Programme | None = None) -> Section:
    """Section 4: the partner dashboard through GraphQL vs the same data by direct REST calls; and, for
    information, the same dashboard on `busy`, the write sections' far larger partnership."""
    cfg = world.config
    section = Section("gateway", f"4. Gateway dashboard query ({cfg.concurrency} clients)")
    if "gateway" not in world.platform.processes:
        return section.unavailable("the gateway did not start (see its log)")
    section.notes.append(
        f"The dashboard reads a partnership of its own: {cfg.dashboard_participants} participants, each "
        f"with a job-start claim, {cfg.dashboard_participants // 2} of them verified and priced, and a "
        "payment statement for this quarter."
    )
    cast, pid = prog.cast, str(prog.cast.partnership_id)
    headers = await world.auth.headers(cast.payer_a)
    graphql = world.platform.url("gateway") + "/graphql"
    try:
        async with world.client.post(graphql, json={"query": "{ __typename }"}, headers=headers) as r:
            await expect(r, 200)
    except (HttpStatusError, aiohttp.ClientError) as exc:
        return section.unavailable(f"the gateway does not answer GraphQL at /graphql: {exc}")
    quarter_start = date(TODAY.year, 3 * ((TODAY.month - 1) // 3) + 1, 1)
    try:
        await world.post(
            "outcomes",
            "/v1/payment-statements",
            cast.payer_a,
            {
                "contract_id": str(prog.contract_id),
                "payer_organisation_id": str(cast.payer_a.organisation_id),
                "period_start": quarter_start.isoformat(),
                "period_end": (
                    date(
                        quarter_start.year + quarter_start.month // 10, (quarter_start.month + 2) % 12 + 1, 1
                    )
                    - timedelta(days=1)
                ).isoformat(),
            },
        )
    except HttpStatusError as exc:
        section.notes.append(f"no statement could be generated for the dashboard: {exc}")
    payload = {"query": DASHBOARD, "variables": {"id": str(GlobalID("Partnership", pid))}}  # its global id

    async def via_gateway(_: int) -> None:
        async with world.client.post(graphql, json=payload, headers=headers) as response:
            body = orjson.loads(await expect(response, 200))
        if body.get("errors") or not (body.get("data") or {}).get("partnership"):
            raise HttpStatusError(f"GraphQL errors: {orjson.dumps(body.get('errors'))[:300].decode()}")

    async def fetch(service: str, path: str, params: dict[str, str] | None = None) -> Any:
        async with world.client.get(world.url(service, path), params=params, headers=headers) as response:
            return orjson.loads(await expect(response, 200))

    async def via_rest(_: int) -> None:
        answers: tuple[Any, ...] = await asyncio.gather(
            fetch("identity", f"/v1/partnerships/{pid}"),
            fetch("contracts", "/v1/contracts", {"partnership_id": pid}),
            fetch("outcomes", f"/v1/partnerships/{pid}/outcome-aggregates"),
        )
        contracts = answers[1]
        items = contracts["items"] if isinstance(contracts, dict) else contracts
        await asyncio.gather(
            *(fetch("contracts", f"/v1/contracts/{c['id']}/versions") for c in items),
            *(
                fetch("outcomes", "/v1/payment-statements", {"contract_id": c["id"], "lines": "false"})
                for c in items
            ),
        )

    for name, op in (("gateway", via_gateway), ("direct REST", via_rest)):
        try:
            await op(0)
        except (HttpStatusError, aiohttp.ClientError, KeyError) as exc:
            return section.failed(f"the {name} dashboard does not work: {exc}")
    section.measurements = [
        gw := await _repeat(
            world, "dashboard via GraphQL (POST /graphql)", via_gateway, cfg.dashboard_requests
        ),
    ]
    section.limits = [
        rest := await _repeat(
            world,
            "the same data by direct REST calls (3 parallel, then 2 per contract)",
            via_rest,
            cfg.dashboard_requests,
        ),
    ]
    section.ratios = [
        ratio("gateway req/s / direct REST req/s", gw, rest, "throughput", 0.50, ">="),
        ratio("gateway p99 / direct REST p99", gw, rest, "p99_ms", 2.0, "<="),
    ]
    if busy is not None:
        section.measurements.append(await _busy_dashboard(world, busy))
    return section


async def _busy_dashboard(world: World, busy: Programme) -> Measurement:
    """The dashboard on the partnership the write sections filled: its cost must not follow its size."""
    pid = str(busy.cast.partnership_id)
    summary = await world.get("outcomes", f"/v1/partnerships/{pid}/outcome-aggregates", busy.cast.payer_a)
    headers = await world.auth.headers(busy.cast.payer_a)
    graphql = world.platform.url("gateway") + "/graphql"
    payload = {"query": DASHBOARD, "variables": {"id": str(GlobalID("Partnership", pid))}}  # its global id

    async def via_gateway(_: int) -> None:
        async with world.client.post(graphql, json=payload, headers=headers) as response:
            body = orjson.loads(await expect(response, 200))
        if body.get("errors"):
            raise HttpStatusError(f"GraphQL errors: {orjson.dumps(body.get('errors'))[:300].decode()}")

    name = (
        "the same dashboard via GraphQL on the write sections' partnership "
        f"({summary['enrolled']} participants; information, no target)"
    )
    return await _repeat(world, name, via_gateway, world.config.dashboard_requests)


async def _repeat(
    world: World, name: str, op: Operation, count: int, concurrency: int | None = None, unit: str = "req/s"
) -> Measurement:
    cfg = world.config
    await world.vacuum_analyse()
    runs = [
        await drive(op, count=count, concurrency=concurrency or cfg.concurrency, time_cap=cfg.time_cap)
        for _ in range(cfg.repetitions)
    ]
    return summarise(name, unit, runs)


# --- growth -----------------------------------------------------------------------------------------------


@dataclass
class Sized:
    prog: Programme
    events: int
    pending: list[str]  # claim ids awaiting verification, consumed by the latency runs


async def prepare_sized(world: World, prog: Programme, events: int) -> tuple[Sized, dict[str, float]]:
    """Claims waiting for verification, then the ledger seeded by SQL up to `events` events."""
    cfg = world.config
    r = await enrol_confirm_claim(world, prog, cfg.growth_samples * cfg.repetitions, 8)
    database_url = world.platform.database_urls["outcomes"]  # type: ignore[attr-defined]
    seeded = await seed_ledger(database_url, prog.cast.partnership_id, events)
    if events <= 50_000:  # the service re-verifies the whole chain: cheap enough below this size
        report = await world.get(
            "outcomes", f"/v1/partnerships/{prog.cast.partnership_id}/ledger/verification", prog.cast.payer_a
        )
        if not report["valid"] or report["checked"] != events:
            raise RuntimeError(f"the seeded ledger does not verify: {report}")
        seeded["verified_by_service"] = 1.0
    return Sized(prog, events, r.claim_ids), seeded


async def tail_cursor(world: World, headers: dict[str, str], pid: UUID, page: int) -> tuple[str | None, int]:
    """Walk the feed to its end; the cursor that returns the last full page, and the pages walked."""
    cursor: str | None = None
    previous: str | None = None
    pages = 0
    while True:
        count, following = await feed_page(world, headers, pid, cursor, page, parse=False)
        pages += 1
        if count < page or following is None:
            return (cursor if count == page else previous), pages
        previous, cursor = cursor, following


async def growth_measurements(world: World, sized: Sized) -> list[Measurement]:
    cfg = world.config
    cast, pid = sized.prog.cast, sized.prog.cast.partnership_id
    label = f"{sized.events:,} events".replace(",", " ")
    investor = await world.auth.headers(cast.investor_machine)
    out: list[Measurement] = []
    payer = await world.auth.headers(cast.payer_a)
    claims = list(sized.pending)

    async def verify(_: int) -> None:
        claim_id = claims.pop()
        url = world.url("outcomes", f"/v1/outcome-claims/{claim_id}/verification")
        request_headers = {**payer, "Idempotency-Key": secrets.token_hex(12)}
        async with world.client.post(url, json={"decision": "verified"}, headers=request_headers) as response:
            await expect(response, 200)

    out.append(
        await _repeat(world, f"verification latency at {label}", verify, cfg.growth_samples, concurrency=1)
    )
    ledger_url = world.url("outcomes", f"/v1/partnerships/{pid}/ledger")
    tail = {"after": str(max(0, sized.events - 500)), "limit": "500"}

    async def ledger_tail(_: int) -> None:
        async with world.client.get(ledger_url, params=tail, headers=investor) as response:
            await expect(response, 200)

    out.append(
        await _repeat(
            world,
            f"ledger tail page (500) latency at {label}",
            ledger_tail,
            cfg.growth_samples,
            concurrency=1,
        )
    )
    if feed_available(world.openapi.get("outcomes", {})):
        cursor, _ = await tail_cursor(world, investor, pid, cfg.feed_page)

        async def feed_tail(_: int) -> None:
            await feed_page(world, investor, pid, cursor, cfg.feed_page)

        out.append(
            await _repeat(
                world,
                f"feed tail page ({cfg.feed_page}) latency at {label}",
                feed_tail,
                cfg.growth_samples,
                concurrency=1,
            )
        )
    return out


async def growth_section(world: World, small: Sized, large: Sized) -> Section:
    cfg = world.config
    section = Section("growth", f"5. Growth ({small.events} vs {large.events} ledger events)")
    a = await growth_measurements(world, small)
    b = await growth_measurements(world, large)
    section.measurements = a + b
    names = ["verification", "ledger tail page (stand-in for the feed page)", "feed page"]
    for i, (m_small, m_large) in enumerate(zip(a, b, strict=True)):
        section.ratios.append(
            ratio(
                f"{names[i]} p50 at {large.events} / at {small.events}",
                m_large,
                m_small,
                "p50_ms",
                1.3,
                "<=",
                informational=i == 1,
            )
        )
    if len(a) < 3:
        section.notes.append(
            "feed page latency: not available (no GET /v1/feed yet); the ledger tail page stands in"
        )
    section.notes.append(
        "Both ledgers were seeded by SQL COPY straight into the outcome database (bench only), as copies of "
        f"the partnership's real events with a valid hash chain built by the service's own chain module; "
        f"latencies are sequential (1 client), {cfg.growth_samples} samples per repetition."
    )
    return section
