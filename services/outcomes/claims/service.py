"""Outcome claims: reading them, evidence, and the checks a new claim must pass against the contract
version in force on its achievement date."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Forbidden, Problem, Unprocessable
from services.outcomes import access, errors, pricing
from services.outcomes.access import readable_claims, readable_participants
from services.outcomes.clients.contracts import ContractVersion, InForceKey, Outcome, Terms
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import OutcomeClaim, Participant, PaymentLine
from services.outcomes.schemas import ClaimCreate, SplitLineRead
from services.outcomes.states import LIVE_STATUSES, ClaimStatus


async def get_claim(
    session: AsyncSession, principal: Principal, claim_id: UUID, *, for_update: bool = False
) -> OutcomeClaim:
    query = readable_claims(principal).where(OutcomeClaim.id == claim_id)
    if for_update:
        query = query.with_for_update(of=OutcomeClaim).execution_options(populate_existing=True)
    claim = (await session.execute(query)).scalar_one_or_none()
    if claim is None:
        raise errors.ClaimNotFound()
    return claim


async def evidence_document(
    session: AsyncSession, principal: Principal, claim_id: UUID
) -> tuple[OutcomeClaim, bytes]:
    """The uploaded document, for the provider and the municipality paying (never evaluators or funders)."""
    claim = await get_claim(session, principal, claim_id)
    if not access.may_read_evidence(principal, claim.partnership_id):
        raise Forbidden("evidence documents are for the provider and the municipality of residence")
    document = await session.scalar(select(OutcomeClaim.evidence_document).where(OutcomeClaim.id == claim.id))
    if document is None:
        raise errors.ClaimNotFound("this claim has no uploaded document")
    return claim, document


async def list_claims(
    session: AsyncSession,
    principal: Principal,
    *,
    partnership_id: UUID | None,
    participant_id: UUID | None,
    status: str | None,
    ids: list[UUID] | None,
    after: UUID | None,
    limit: int,
) -> list[OutcomeClaim]:
    query = readable_claims(principal)
    if partnership_id is not None:
        query = query.where(OutcomeClaim.partnership_id == partnership_id)
    if participant_id is not None:
        query = query.where(OutcomeClaim.participant_id == participant_id)
    if status is not None:
        query = query.where(OutcomeClaim.status == status)
    if ids is not None:
        query = query.where(OutcomeClaim.id.in_(ids))
    if after is not None:
        query = query.where(OutcomeClaim.id > after)
    return list((await session.execute(query.order_by(OutcomeClaim.id).limit(limit))).scalars())


_PRICED_LINES = "effekt.priced_lines"  # (root transaction, {claim id: lines written in it})

# A claim's payer split as an answer shows it: its lines read back, or the lines just priced (remembered).
SplitLine = PaymentLine | SplitLineRead


def remember_lines(session: AsyncSession, claim_id: UUID, lines: list[dict[str, Any]]) -> None:
    """The lines a claim was just priced with (their columns), for `split_lines` to answer without reading
    them back; remembered for the session's transaction, outside any savepoint (whose rollback would undo
    them), as the split rows of the answer: no ORM object per line, which a grouped verification's CPU
    would pay for every line it writes."""
    sync = session.sync_session
    root = sync.get_transaction()
    if root is None or sync.get_nested_transaction() is not None:
        return
    known: tuple[object, dict[UUID, list[SplitLine]]] | None = session.info.get(_PRICED_LINES)
    if known is None or known[0] is not root:
        known = session.info[_PRICED_LINES] = (root, {})
    known[1][claim_id] = [
        SplitLineRead.model_validate(line) for line in sorted(lines, key=lambda line: line["id"])
    ]


async def split_lines(session: AsyncSession, claim_ids: list[UUID]) -> dict[UUID, list[SplitLine]]:
    known: tuple[object, dict[UUID, list[SplitLine]]] | None = session.info.get(_PRICED_LINES)
    if (
        known is not None
        and known[0] is session.sync_session.get_transaction()
        and all(claim_id in known[1] for claim_id in claim_ids)
    ):
        return {claim_id: list(known[1][claim_id]) for claim_id in claim_ids if known[1][claim_id]}
    rows = await session.execute(
        select(PaymentLine)
        # An audit's clawback is the statement's, not the claim's price or split (audits/).
        .where(PaymentLine.claim_id.in_(claim_ids), PaymentLine.audit_id.is_(None))
        .order_by(PaymentLine.id)
    )
    by_claim: dict[UUID, list[SplitLine]] = {}
    for line in rows.scalars():
        by_claim.setdefault(cast(UUID, line.claim_id), []).append(line)  # selected by claim: never None
    return by_claim


def _decode_evidence(body: ClaimCreate, limit: int) -> bytes | None:
    if body.evidence_document_base64 is None:
        return None
    try:
        document = base64.b64decode(body.evidence_document_base64, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable.field("body.evidence_document_base64", "is not base64") from None
    if not document:
        raise Unprocessable.field("body.evidence_document_base64", "is empty")
    if len(document) > limit:
        raise errors.EvidenceTooLarge(f"the document exceeds {limit} bytes")
    return document


Dates = dict[str, list[date]]  # outcome code -> achievement dates, ascending


async def _claim_dates(
    session: AsyncSession, participant_ids: list[UUID]
) -> tuple[dict[UUID, Dates], dict[UUID, Dates]]:
    """Per participant, in one query: every verified achievement date per outcome code, ascending and
    distinct (restarts need all of them), and every live claim's achievement date per outcome code (end
    events, `ended_by`, count once claimed)."""
    rows = await session.execute(
        select(
            OutcomeClaim.participant_id,
            OutcomeClaim.outcome_code,
            OutcomeClaim.achievement_date,
            OutcomeClaim.status,
        )
        .where(OutcomeClaim.participant_id.in_(participant_ids), OutcomeClaim.status.in_(LIVE_STATUSES))
        .order_by(OutcomeClaim.achievement_date)
    )
    verified: dict[UUID, Dates] = {}
    live: dict[UUID, Dates] = {}
    for participant_id, code, day, status in rows:
        live.setdefault(participant_id, {}).setdefault(code, []).append(day)
        if status == ClaimStatus.VERIFIED.value:
            days = verified.setdefault(participant_id, {}).setdefault(code, [])
            if not days or days[-1] != day:
                days.append(day)
    return verified, live


async def live_claims(
    session: AsyncSession, participant_id: UUID, code: str, *, excluding: UUID | None
) -> int:
    query = select(func.count()).where(
        OutcomeClaim.participant_id == participant_id,
        OutcomeClaim.outcome_code == code,
        OutcomeClaim.status.in_(LIVE_STATUSES),
    )
    if excluding is not None:
        query = query.where(OutcomeClaim.id != excluding)
    return int(await session.scalar(query) or 0)


def _anchor(terms: Terms, code: str, achieved: date, verified: Dates, live: Dates) -> date | None:
    """The start a window counts from: the first verified one, or for a start that recurs, the latest
    verified one no end event (`ended_by`, claimed) has closed before `achieved`."""
    starts = verified.get(code, [])
    start = terms.outcome(code)
    if start is None or not start.repeats(terms.schema_version).recurs:
        return starts[0] if starts else None
    ends = [day for end in start.ended_by for day in live.get(end, [])]
    return pricing.anchor(starts, ends, achieved)


def _check_window(
    terms: Terms, outcome: Outcome, achieved: date, enrolment: date, verified: Dates, live: Dates
) -> None:
    for prerequisite in outcome.prerequisites:
        done = min(verified.get(prerequisite, []), default=None)
        if done is None or done > achieved:
            raise errors.PrerequisiteNotVerified.field(
                "body.outcome_code", f"needs a verified `{prerequisite}` achieved on or before this date"
            )
    window = outcome.window
    if window is None:
        return
    if window.anchor == "outcome":
        code = window.anchor_outcome or ""
        anchor = _anchor(terms, code, achieved, verified, live)
        if anchor is None and verified.get(code):
            raise errors.StartEnded.field(
                "body.achievement_date", f"the latest `{code}` ended before this date; a new start is needed"
            )
        if anchor is None:
            raise errors.PrerequisiteNotVerified.field(
                "body.outcome_code", f"the window is anchored on a verified `{code}`"
            )
    else:
        anchor = enrolment
    opens = anchor + timedelta(days=window.opens_after_days)
    closes = (
        anchor + timedelta(days=window.closes_after_days) if window.closes_after_days is not None else None
    )
    if achieved < opens or (closes is not None and achieved > closes):
        span = f"{opens.isoformat()} to {closes.isoformat() if closes else 'open-ended'}"
        raise errors.OutsideOutcomeWindow.field("body.achievement_date", f"must lie in {span}")


async def submit_claim(
    session: AsyncSession, principal: Principal, body: ClaimCreate, deps: Deps
) -> OutcomeClaim:
    """The provider claims an outcome; checked against the version in force on the achievement date."""
    (claim,) = await submit_many(session, principal, [body], deps)
    if isinstance(claim, Problem):
        raise claim
    return claim


@dataclass(slots=True)
class Checked:
    """A claim that passed the rules, with what they found (its participant, version, outcome, ...)."""

    index: int
    body: ClaimCreate
    participant: Participant
    version: ContractVersion
    outcome: Outcome
    document: bytes | None
    classified: pricing.Classified


def refusal(refused: pricing.Refused, *, prefix: str) -> Problem:
    """The engine's refusal as the service's problem, naming the field at fault."""
    if refused.path == "municipality_code":
        return errors.MunicipalityNotPaying(refused.reason)
    if refused.path == "segment":
        return errors.SegmentMissing(refused.reason)
    return errors.CriteriaNotMet.field(f"{prefix}{refused.path}", refused.reason)


def stored_facts(facts: dict[str, pricing.FactValue]) -> dict[str, Any]:
    """Facts as JSON that reads back exactly: decimals as strings."""
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in facts.items()}


def _admit(
    principal: Principal, body: ClaimCreate, participant: Participant | None, deps: Deps
) -> bytes | None:
    """The rules one claim must pass on its own before its terms are asked for (the participant row is
    locked by the caller); the evidence document, decoded."""
    if participant is None:
        raise errors.ParticipantNotFound()
    if not access.may_claim(principal, participant.partnership_id):
        raise errors.NotAPartner("only the partnership's provider claims outcomes")
    document = _decode_evidence(body, deps.max_evidence_bytes)
    if body.evidence_reference is None and document is None:
        raise errors.EvidenceMissing.field("body.evidence_reference", "give a reference or a document")
    achieved = body.achievement_date
    if achieved > today():
        raise errors.AchievementDateInFuture.field("body.achievement_date", "must not be in the future")
    if achieved < participant.enrolment_date:
        raise errors.AchievementBeforeEnrolment.field(
            "body.achievement_date", f"must not precede enrolment on {participant.enrolment_date.isoformat()}"
        )
    if participant.eligibility_confirmed_at is None:
        raise errors.ParticipantNotEligible.field("body.participant_id", "eligibility is not confirmed")
    if participant.exit_date is not None and achieved > participant.exit_date:
        raise errors.ParticipantExited.field(
            "body.achievement_date", f"the participant exited on {participant.exit_date.isoformat()}"
        )
    return document


def _check_terms(
    body: ClaimCreate,
    participant: Participant,
    version: ContractVersion | Problem,
    text: pricing.DecimalMark | None = None,
) -> tuple[Outcome, pricing.Classified]:
    """The rules one claim must pass against the version in force on its achievement date."""
    if isinstance(version, Problem):
        raise version
    if version.contract_id != participant.contract_id:
        raise errors.ContractMismatch.field(
            "body.participant_id", "the registry answered for another contract"
        )
    outcome = version.terms.outcome(body.outcome_code)
    engine_outcome = version.terms.engine_outcome(body.outcome_code)
    if outcome is None or engine_outcome is None:
        raise errors.UnknownOutcome.field(
            "body.outcome_code", f"is not an outcome of contract version {version.number}"
        )
    contract = version.terms.engine()
    try:
        facts = body.facts if text is None else pricing.read_text_facts(contract.facts, body.facts, mark=text)
        claim = pricing.Claim(outcome.code, facts, participant.segment, participant.municipality_code)
        classified = pricing.classify(claim, engine_outcome, contract)
    except pricing.Refused as refused:
        raise refusal(refused, prefix="body.") from None
    return outcome, classified


# A group's version lookups asked of the registry at once: a group spanning many callers asks each
# caller's (the client caches them per token), and they should neither wait for one another nor flood it.
REGISTRY_CALLS_AT_ONCE = 4


async def versions_in_force(
    asks: Sequence[tuple[Deps, UUID, date]],
) -> dict[InForceKey, ContractVersion | Problem]:
    """The version in force (or the registry's refusal) per caller's token, contract and date asked."""
    unique = {(deps.token, contract_id, on): deps for deps, contract_id, on in asks}
    gate = asyncio.Semaphore(REGISTRY_CALLS_AT_ONCE)

    async def one(key: InForceKey) -> ContractVersion | Problem:
        token, contract_id, on = key
        async with gate:
            try:
                return await unique[key].contracts.version_in_force(contract_id, on, token=token)
            except Problem as problem:
                return problem

    if len(unique) == 1:  # the usual group: no task to schedule
        (key,) = unique
        return {key: await one(key)}
    return dict(zip(unique, await asyncio.gather(*(one(key) for key in unique)), strict=True))


async def submit_many(
    session: AsyncSession,
    principal: Principal,
    bodies: list[ClaimCreate],
    deps: Deps,
    *,
    partnership_id: UUID | None = None,
    text_facts: Sequence[pricing.DecimalMark | None] = (),
) -> list[OutcomeClaim | Problem]:
    """Submit each claim, or say why not, in order (`partnership_id`: only that partnership's participants;
    `text_facts`, per body: its facts are CSV cells, to be typed by the terms, with that decimal mark).
    The rules are `check_many`'s; the claims accepted are inserted together."""
    checked = await check_many(
        session, principal, bodies, deps, partnership_id=partnership_id, text_facts=text_facts
    )
    return await _insert(session, [principal] * len(bodies), checked)


Submission = tuple[Principal, ClaimCreate, Deps]  # a claim with its own caller and the caller's registry


async def submit_each(session: AsyncSession, items: list[Submission]) -> list[OutcomeClaim | Problem]:
    """Submit each claim for its own caller, or say why not, in order: `submit_many` for a group spanning
    callers' row contexts (groups.py), whose transaction admits every caller's partnerships. So each
    participant is admitted by its own caller's rule in SQL (`lock_admitted`): a claim no caller could
    make alone is refused as it would be alone, whoever its neighbours are."""
    participants = await lock_admitted(
        session, [(principal, body.participant_id) for principal, body, _ in items]
    )
    checked = await _check_each(session, items, participants)
    return await _insert(session, [principal for principal, _, _ in items], checked)


async def _insert(
    session: AsyncSession, principals: Sequence[Principal], checked: list[Checked | Problem]
) -> list[OutcomeClaim | Problem]:
    """The checked claims inserted together (`principals`: each one's caller), their events appended."""
    made = [
        (principals[c.index], claim_columns(principals[c.index], c, uuid4()), c)
        for c in checked
        if isinstance(c, Checked)
    ]
    claims = [OutcomeClaim(**columns) for _, columns, _ in made]
    session.add_all(claims)
    await session.flush()
    for principal, columns, c in made:
        await append_submitted(session, principal, [(columns, c)])
    new = iter(claims)
    return [next(new) if isinstance(c, Checked) else c for c in checked]


async def lock_admitted(
    session: AsyncSession, wanted: Sequence[tuple[Principal, UUID]]
) -> list[Participant | None]:
    """Each (caller, participant) asked for: the participant, locked until the transaction ends, only
    where that caller's own rule admits it (else None: not found, as alone). One statement for every
    caller, locking in id order; callers whose rule is the same share its condition."""
    rules: dict[Hashable, int] = {}
    asked: list[tuple[Principal, set[UUID]]] = []
    callers: list[int] = []
    for principal, participant_id in wanted:
        n = rules.setdefault(access.rule_of(principal), len(asked))
        if n == len(asked):
            asked.append((principal, set()))
        asked[n][1].add(participant_id)
        callers.append(n)
    if not asked:
        return []
    query = (
        access.admitted_participants([(principal, sorted(ids)) for principal, ids in asked])
        .order_by(Participant.id)
        .with_for_update(of=Participant)
        .execution_options(populate_existing=True)
    )
    admitted = {(n, p.id): p for p, admitted_for in await session.execute(query) for n in admitted_for}
    return [admitted.get((n, participant_id)) for n, (_, participant_id) in zip(callers, wanted, strict=True)]


async def append_submitted(
    session: AsyncSession, principal: Principal, made: Sequence[tuple[dict[str, Any], Checked]]
) -> None:
    """Each inserted claim's `claim.submitted` event, in order (single, grouped and bulk claims alike)."""
    for columns, c in made:
        await append_event(
            session,
            principal,
            columns["partnership_id"],
            type="claim.submitted",
            subject=f"outcome-claims/{columns['id']}",
            participant_id=columns["participant_id"],
            data=submitted_data(columns, c.version),
        )


async def check_many(
    session: AsyncSession,
    principal: Principal,
    bodies: list[ClaimCreate],
    deps: Deps,
    *,
    partnership_id: UUID | None = None,
    text_facts: Sequence[pricing.DecimalMark | None] = (),
) -> list[Checked | Problem]:
    """Each claim checked, or why it is refused, in order; nothing written (`submit_many`'s arguments).

    The participants are locked in one query (in id order) and their verified outcomes and live claims
    read in one query; the rules then run per claim in memory, counting the claims accepted here
    towards the per-participant maximum.
    """
    wanted = sorted({body.participant_id for body in bodies})
    query = readable_participants(principal).where(Participant.id.in_(wanted)).order_by(Participant.id)
    if partnership_id is not None:
        query = query.where(Participant.partnership_id == partnership_id)
    rows = await session.execute(query.with_for_update().execution_options(populate_existing=True))
    participants = {p.id: p for p in rows.scalars()}
    items = [(principal, body, deps) for body in bodies]
    return await _check_each(session, items, [participants.get(b.participant_id) for b in bodies], text_facts)


async def _check_each(
    session: AsyncSession,
    items: Sequence[Submission],
    participants: Sequence[Participant | None],
    text_facts: Sequence[pricing.DecimalMark | None] = (),
) -> list[Checked | Problem]:
    """Each claim checked by its own caller against its participant as locked for that caller (None: not
    found for it), or why it is refused, in order. The versions in force are asked together; the verified
    outcomes and live claims are read in one query; the rules then run per claim in memory, counting the
    claims accepted here towards the per-participant maximum."""
    outcomes: list[Checked | Problem | None] = [None] * len(items)
    admitted: list[tuple[int, Participant, bytes | None]] = []
    for n, ((principal, body, deps), participant) in enumerate(zip(items, participants, strict=True)):
        try:
            document = _admit(principal, body, participant, deps)
        except Problem as problem:
            outcomes[n] = problem
            continue
        assert participant is not None
        admitted.append((n, participant, document))
    versions = await versions_in_force(
        [(items[n][2], p.contract_id, items[n][1].achievement_date) for n, p, _ in admitted]
    )
    checked: list[Checked] = []
    for n, participant, document in admitted:
        _, body, deps = items[n]
        version = versions[(deps.token, participant.contract_id, body.achievement_date)]
        text = text_facts[n] if n < len(text_facts) else None
        try:
            outcome, classified = _check_terms(body, participant, version, text)
        except Problem as problem:
            outcomes[n] = problem
            continue
        assert not isinstance(version, Problem)
        checked.append(Checked(n, body, participant, version, outcome, document, classified))
    ids = list({c.participant.id for c in checked})
    verified, live_dates = await _claim_dates(session, ids) if ids else ({}, {})
    live = {(p, code): len(days) for p, by_code in live_dates.items() for code, days in by_code.items()}
    for c in checked:
        participant, outcome = c.participant, c.outcome
        try:
            _check_window(
                c.version.terms,
                outcome,
                c.body.achievement_date,
                participant.enrolment_date,
                verified.get(participant.id, {}),
                live_dates.get(participant.id, {}),
            )
            slot = (participant.id, outcome.code)
            limit = outcome.repeats(c.version.terms.schema_version).max_per_participant
            if limit is not None and live.get(slot, 0) >= limit:
                raise errors.PerParticipantMaximum.field(
                    "body.outcome_code", f"at most {limit} per participant"
                )
        except Problem as problem:
            outcomes[c.index] = problem
            continue
        live[slot] = live.get(slot, 0) + 1
        outcomes[c.index] = c
    return [outcome for outcome in outcomes if outcome is not None]


def submitted_data(claim: Mapping[str, Any], version: ContractVersion) -> dict[str, Any]:
    """`claim.submitted`'s data, from the new claim's columns."""
    return {
        "claim_id": str(claim["id"]),
        "participant_id": str(claim["participant_id"]),
        "contract_id": str(claim["contract_id"]),
        "contract_version_id": str(version.id),
        "outcome_code": claim["outcome_code"],
        "achievement_date": claim["achievement_date"].isoformat(),
        "evidence_sha256": claim["evidence_sha256"],
    }


def claim_columns(principal: Principal, c: Checked, claim_id: UUID) -> dict[str, Any]:
    """A checked claim's columns as it is inserted."""
    document = c.document
    return {
        "id": claim_id,
        "partnership_id": c.participant.partnership_id,
        "contract_id": c.participant.contract_id,
        "participant_id": c.participant.id,
        "outcome_code": c.outcome.code,
        "achievement_date": c.body.achievement_date,
        "evidence_reference": c.body.evidence_reference,
        "evidence_document": document,
        "evidence_media_type": c.body.evidence_media_type if document is not None else None,
        "evidence_sha256": hashlib.sha256(document).hexdigest() if document is not None else None,
        "claimant_organisation_id": principal.organisation_id,
        "claimed_by": principal.subject,
        "claimed_contract_version_id": c.version.id,
        "facts": stored_facts(c.classified.facts) if c.body.facts else None,
        "payer_organisation_ids": pricing.payers_for(
            c.version.terms.engine().split,
            c.participant.municipality_code,
            [p.organisation_id for p in c.outcome.payer_tariffs],
        ),
        "status": ClaimStatus.CLAIMED.value,
        "disputed": False,
        "version": 1,
    }
