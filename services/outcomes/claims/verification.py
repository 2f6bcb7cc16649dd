"""Deciding claims: verification, rejection, disputes and their resolution, and pricing a verified
claim under cap-counter locks (contract, outcome, payers, period, participant; then the ledger head)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid4

import orjson
from sqlalchemy import BigInteger, String, Table, Uuid, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from kit.auth import Principal
from kit.problems import Problem, Unprocessable
from kit.versions import check_version
from services.outcomes import access, errors, pricing
from services.outcomes.access import readable_claims_and_participants
from services.outcomes.claims.service import get_claim, live_claims, refusal, remember_lines
from services.outcomes.clients.contracts import ContractVersion
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import CapCounter, Money, OutcomeClaim, Participant
from services.outcomes.pricing import money
from services.outcomes.states import Action, ClaimStatus, InvalidTransition, transition


def payment_period_key(day: date, payment_period: str) -> str:
    """The payment period a day falls in, as the per-period cap counts it (terms know only these two)."""
    if payment_period == "monthly":
        return f"{day.year}-{day.month:02d}"
    if payment_period == "quarterly":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise ValueError(f"unknown payment period {payment_period!r}")


_COUNTERS = cast(Table, CapCounter.__table__)  # Core statements: no ORM bookkeeping under the locks


@dataclass(frozen=True, slots=True)
class _Counter:
    scope: str  # contract | outcome | payer | period | participant: the one lock order
    key: str
    cap: Decimal | None


def _counters(
    contract_id: UUID, terms: pricing.Contract, outcome: pricing.Outcome, period: str, participant_id: UUID
) -> list[_Counter]:
    """The counters a claim's pricing reads and moves, in the one lock order: contract, outcome, payers
    (in id order), period, participant."""
    payers = sorted(pricing.payers_of(terms.split) + [org for org, _ in outcome.payer_tariffs])
    return [
        _Counter("contract", "", terms.caps.contract_total),
        _Counter("outcome", outcome.code, outcome.cap.amount),
        *(_Counter("payer", str(org), terms.caps.per_payer.get(org)) for org in dict.fromkeys(payers)),
        _Counter("period", period, terms.caps.per_period),
        _Counter("participant", str(participant_id), terms.caps.per_participant),
    ]


_RANK = {"contract": 0, "outcome": 1, "payer": 2, "period": 3, "participant": 4}
CounterKey = tuple[UUID, str, str]  # (contract id, scope, key)


def lock_order(key: CounterKey) -> tuple[UUID, int, str]:
    """The one order counters are locked in, for one claim or a batch: by contract, then scope in the
    order `_counters` gives, then key (payer ids sort alike as text and as UUIDs)."""
    contract_id, scope, counter_key = key
    return contract_id, _RANK[scope], counter_key


async def _lock_counters(
    session: AsyncSession, counters: list[tuple[UUID, _Counter, str]]
) -> dict[CounterKey, tuple[Decimal, int]]:
    """What is paid (and counted) so far against each (contract, counter, currency), all locked (created
    when missing) in one statement in the order given, which ON CONFLICT follows row by row. The no-op
    update on conflict is what takes the row lock."""
    rows = await session.execute(
        _LOCK_COUNTERS,
        {
            "contract_ids": [contract_id for contract_id, _, _ in counters],
            "scopes": [c.scope for _, c, _ in counters],
            "keys": [c.key for _, c, _ in counters],
            "currencies": [currency for _, _, currency in counters],
        },
    )
    return {(contract_id, scope, key): (paid, count) for contract_id, scope, key, paid, count in rows}


# One text for any number of counters (one claim's five or a batch's thousands), so it is prepared once.
_LOCK_COUNTERS = text(
    """
    INSERT INTO cap_counters AS c (contract_id, scope, key, paid, currency)
    SELECT n.contract_id, n.scope, n.key, 0, n.currency
    FROM unnest(
        CAST(:contract_ids AS uuid[]), CAST(:scopes AS text[]), CAST(:keys AS text[]),
        CAST(:currencies AS text[])
    ) WITH ORDINALITY AS n(contract_id, scope, key, currency, position)
    ORDER BY n.position
    ON CONFLICT (contract_id, scope, key) DO UPDATE SET paid = c.paid
    RETURNING c.contract_id, c.scope, c.key, c.paid, c.count
    """
).columns(
    column("contract_id", Uuid()),
    column("scope", String()),
    column("key", String()),
    column("paid", Money),
    column("count", BigInteger()),
)


def engine_claim(claim: OutcomeClaim, participant: Participant) -> pricing.Claim:
    return pricing.Claim(
        claim.outcome_code,
        claim.facts or {},
        participant.segment,
        participant.municipality_code,
        claim.achievement_date,
    )


@dataclass(frozen=True, slots=True)
class _Pricing:
    """What pricing one claim reads and moves, known before any counter is locked."""

    contract: pricing.Contract
    outcome: pricing.Outcome
    currency: str
    priced_on: date
    period: str
    counters: list[_Counter]


Engines = dict[tuple[UUID, str], tuple[pricing.Contract, pricing.Outcome | None]]


def _pricing_of(
    claim: OutcomeClaim, participant: Participant, version: ContractVersion, engines: Engines | None = None
) -> _Pricing:
    """`engines`: the engine's terms by (version, outcome) already built for a batch's earlier claims."""
    terms, priced_on = version.terms, today()
    currency = terms.currency
    if not pricing.supported(currency):
        raise errors.CurrencyNotSupported(f"amounts in {currency} need more than three decimals")
    key = (version.id, claim.outcome_code)
    built = engines.get(key) if engines is not None else None
    if built is None:
        built = terms.engine(), terms.engine_outcome(claim.outcome_code)
        if engines is not None:
            engines[key] = built
    contract, outcome = built
    if outcome is None:
        raise errors.UnknownOutcome(f"the version in force no longer has outcome `{claim.outcome_code}`")
    # The per-period cap counts the period a claim falls in on its statement (the terms' basis).
    on = claim.achievement_date if terms.statement_basis == "achievement" else priced_on
    period = payment_period_key(on, terms.payment_period)
    counters = _counters(claim.contract_id, contract, outcome, period, participant.id)
    return _Pricing(contract, outcome, currency, priced_on, period, counters)


def _usage(
    p: _Pricing, contract_id: UUID, participant_id: UUID, held: Mapping[CounterKey, tuple[Decimal, int]]
) -> pricing.CapUsage:
    def at(scope: str, key: str) -> tuple[Decimal, int]:
        return held[(contract_id, scope, key)]

    code = p.outcome.code
    return pricing.CapUsage(
        participant=at("participant", str(participant_id))[0],
        contract=at("contract", "")[0],
        period=at("period", p.period)[0],
        outcome_count=at("outcome", code)[1],
        outcome_paid=at("outcome", code)[0],
        payers={UUID(c.key): at(c.scope, c.key)[0] for c in p.counters if c.scope == "payer"},
    )


def _engine_price(
    claim: OutcomeClaim, participant: Participant, p: _Pricing, usage: pricing.CapUsage
) -> pricing.Price:
    try:
        return pricing.price(engine_claim(claim, participant), p.outcome, p.contract, usage)
    except pricing.Refused as refused:
        raise refusal(refused, prefix="") from None


def _moves(p: _Pricing, price: pricing.Price) -> list[tuple[_Counter, Decimal]]:
    """What the priced claim adds to each of its counters (each also counts it once)."""
    by_payer = {str(line.organisation_id): line.amount for line in price.lines}
    return [(c, by_payer.get(c.key, Decimal(0)) if c.scope == "payer" else price.payable) for c in p.counters]


def _priced(
    claim: OutcomeClaim,
    version: ContractVersion,
    p: _Pricing,
    price: pricing.Price,
    usage: pricing.CapUsage,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The price's columns on the claim, and its payment lines one per payer (as rows)."""
    currency, priced_on = p.currency, p.priced_on
    lines = [
        {
            "id": uuid4(),
            "claim_id": claim.id,
            "contract_id": claim.contract_id,
            "payer_organisation_id": line.organisation_id,
            "outcome_code": claim.outcome_code,
            "achievement_date": claim.achievement_date,
            "priced_on": priced_on,
            "currency": currency,
            "tariff_share": line.tariff_share,
            "amount": line.amount,
        }
        for line in price.lines
    ]
    working = price.working
    values = {
        "priced_contract_version_id": version.id,
        "currency": currency,
        "tariff": price.tariff,
        "payable": price.payable,
        "cut": price.cut,
        "cut_reasons": [{"cap": c.cap, "amount": money.text(c.amount, currency)} for c in price.cuts],
        "band": working.band if working else None,
        "tier": working.tier if working else None,
        "tier_count": usage.outcome_count,
        "priced_on": priced_on,
        "payment_period": p.period,
        "payer_organisation_ids": list(dict.fromkeys(line.organisation_id for line in price.lines)),
    }
    return values, lines


def _apply(claim: OutcomeClaim, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        setattr(claim, name, value)


async def _price(
    session: AsyncSession,
    claim: OutcomeClaim,
    participant: Participant,
    version: ContractVersion,
) -> tuple[list[dict[str, Any]], list[tuple[_Counter, Decimal]], Decimal]:
    """Price a claim being verified: the engine, reading tier counts and cap room under the counter row
    locks; its lines one per payer (not yet written), what it adds to each counter, and the indexation
    factor its prices were at."""
    p = _pricing_of(claim, participant, version)
    held = await _lock_counters(session, [(claim.contract_id, c, p.currency) for c in p.counters])
    usage = _usage(p, claim.contract_id, participant.id, held)
    price = _engine_price(claim, participant, p, usage)
    values, lines = _priced(claim, version, p, price, usage)
    _apply(claim, values)
    return lines, _moves(p, price), _index_factor(price)


# The verified claim's columns as verification sets them (`_priced`, `_record_decision`).
_VERIFIED_COLUMNS = (
    "status",
    "verifier_organisation_id",
    "verified_by",
    "decided_at",
    "reason",
    "version",
    "priced_contract_version_id",
    "currency",
    "tariff",
    "payable",
    "cut",
    "cut_reasons",
    "band",
    "tier",
    "tier_count",
    "priced_on",
    "payment_period",
    "payer_organisation_ids",
)
_CLAIMS = cast(Table, OutcomeClaim.__table__)
# One statement of one shape (so compiled once): the counters' moves and the lines from arrays, and the
# claim's row. Foreign keys (a line's claim) are checked at the statement's end.
_WRITE_VERIFIED_SQL = """
    WITH moved AS (
        UPDATE cap_counters AS c
        SET paid = c.paid + m.payable, count = c.count + 1, cap = m.cap
        FROM unnest(
            CAST(:m_contracts AS uuid[]), CAST(:m_scopes AS text[]), CAST(:m_keys AS text[]),
            CAST(:m_payables AS numeric[]), CAST(:m_caps AS numeric[])
        ) AS m(contract_id, scope, key, payable, cap)
        WHERE c.contract_id = m.contract_id AND c.scope = m.scope AND c.key = m.key
        RETURNING 1
    ),
    lines AS (
        INSERT INTO payment_lines (id, claim_id, contract_id, payer_organisation_id, outcome_code,
                                   achievement_date, priced_on, currency, tariff_share, amount)
        SELECT l.id, CAST(:claim_id AS uuid), CAST(:contract_id AS uuid), l.payer,
               CAST(:outcome_code AS text), CAST(:achievement_date AS date), CAST(:l_priced_on AS date),
               CAST(:l_currency AS text), l.share, l.amount
        FROM unnest(
            CAST(:l_ids AS uuid[]), CAST(:l_payers AS uuid[]), CAST(:l_shares AS numeric[]),
            CAST(:l_amounts AS numeric[])
        ) AS l(id, payer, share, amount)
        RETURNING 1
    )
    UPDATE outcome_claims SET
"""
_SET_VERIFIED = ", ".join(f"{name} = :{name}" for name in _VERIFIED_COLUMNS)
_WRITE_VERIFIED = text(f"{_WRITE_VERIFIED_SQL}{_SET_VERIFIED} WHERE id = :claim_id").bindparams(
    *(bindparam(name, type_=_CLAIMS.c[name].type) for name in _VERIFIED_COLUMNS)
)


async def _write_verified(
    session: AsyncSession,
    claim: OutcomeClaim,
    lines: list[dict[str, Any]],
    moves: list[tuple[_Counter, Decimal]],
) -> None:
    """The verified claim's row, its lines and its counters' moves, in one statement (the ORM would take
    three); the claim's columns then stand as written, so the flush has nothing left of them to do."""
    written = {name: getattr(claim, name) for name in _VERIFIED_COLUMNS}
    await session.execute(
        _WRITE_VERIFIED,
        {
            **written,
            "claim_id": claim.id,
            "contract_id": claim.contract_id,
            "outcome_code": claim.outcome_code,
            "achievement_date": claim.achievement_date,
            "m_contracts": [claim.contract_id] * len(moves),
            "m_scopes": [c.scope for c, _ in moves],
            "m_keys": [c.key for c, _ in moves],
            "m_payables": [amount for _, amount in moves],
            "m_caps": [c.cap for c, _ in moves],
            "l_priced_on": claim.priced_on,
            "l_currency": claim.currency,
            "l_ids": [line["id"] for line in lines],
            "l_payers": [line["payer_organisation_id"] for line in lines],
            "l_shares": [line["tariff_share"] for line in lines],
            "l_amounts": [line["amount"] for line in lines],
        },
    )
    for name, value in written.items():
        set_committed_value(claim, name, value)


def _index_factor(price: pricing.Price) -> Decimal:
    return price.working.index_factor if price.working else Decimal(1)


def _check_decider(principal: Principal, claim: OutcomeClaim) -> None:
    # The caller's right to decide comes before the claim's state: a replayed decision, or a refused
    # transition, would otherwise answer someone who may not decide (tests/test_authorisation_matrix.py).
    if claim.claimant_organisation_id == principal.organisation_id:
        raise errors.OwnClaimVerification("the claimant's organisation cannot decide its own claim")


def _decision(
    principal: Principal,
    claim: OutcomeClaim,
    version: ContractVersion,
    *,
    decision: str,
    reason: str | None,
    resolution: bool,
    expected_version: int | None,
) -> ClaimStatus | None:
    """The status the decision moves the claim to, None when it repeats the decision made, or why not."""
    outcome = version.terms.outcome(claim.outcome_code)
    if outcome is None:
        raise errors.UnknownOutcome(f"the version in force no longer has outcome `{claim.outcome_code}`")
    allowed = access.deciding_roles(outcome.verifier_roles, resolution=resolution)
    if not principal.roles_in(claim.partnership_id) & allowed:
        raise errors.NotAllowedToVerify(
            f"this needs one of the roles: {', '.join(sorted(allowed)) or 'none'}"
        )
    if resolution:
        action = Action.RESOLVE_VERIFY if decision == "verified" else Action.RESOLVE_REJECT
    else:
        action = Action.VERIFY if decision == "verified" else Action.REJECT
    try:
        after = transition(ClaimStatus(claim.status), action, disputed=claim.disputed)
    except InvalidTransition as exc:
        raise errors.InvalidClaimTransition(exc.reason, claim_status=claim.status) from None
    if after is None:
        return None
    check_version(claim.version, expected_version)
    if after is ClaimStatus.REJECTED and reason is None:
        raise Unprocessable.field("body.reason", "a rejection needs a reason")
    return after


def _decision_values(
    principal: Principal, claim: OutcomeClaim, after: ClaimStatus, reason: str | None
) -> dict[str, Any]:
    """The decision's columns on the claim."""
    return {
        "status": after.value,
        "verifier_organisation_id": principal.organisation_id,
        "verified_by": principal.subject,
        "decided_at": datetime.now(UTC),
        "reason": reason,
        "version": claim.version + 1,
    }


async def _record_decision(
    session: AsyncSession,
    principal: Principal,
    claim: OutcomeClaim,
    after: ClaimStatus,
    *,
    reason: str | None,
    resolution: bool,
    version: ContractVersion,
    lines: list[dict[str, Any]],
    index_factor: Decimal = Decimal(1),
) -> None:
    """The decision on the claim, and its event on the partnership's chain (written at commit)."""
    _apply(claim, _decision_values(principal, claim, after, reason))
    await _append_decision(
        session,
        principal,
        claim,
        after,
        reason=reason,
        resolution=resolution,
        version=version,
        lines=lines,
        index_factor=index_factor,
    )


async def _append_decision(
    session: AsyncSession,
    principal: Principal,
    claim: OutcomeClaim,
    after: ClaimStatus,
    *,
    reason: str | None,
    resolution: bool,
    version: ContractVersion,
    lines: list[dict[str, Any]],
    index_factor: Decimal,
) -> None:
    """The decided claim's event on the partnership's chain (written at commit)."""
    data: dict[str, Any] = {
        "claim_id": str(claim.id),
        "participant_id": str(claim.participant_id),
        "contract_id": str(claim.contract_id),
        "outcome_code": claim.outcome_code,
        "achievement_date": claim.achievement_date.isoformat(),
        "after_dispute": resolution,
        "reason": reason,
    }
    if after is ClaimStatus.VERIFIED:
        currency = version.terms.currency

        def price_of(amount: Decimal | None) -> Decimal:
            assert amount is not None  # set by pricing
            return amount

        data |= {
            "contract_version_id": str(version.id),
            "currency": claim.currency,
            "tariff": money.text(price_of(claim.tariff), currency),
            "payable": money.text(price_of(claim.payable), currency),
            "cut": money.text(price_of(claim.cut), currency),
            "cut_reasons": claim.cut_reasons,
            "band": claim.band,
            "tier": claim.tier,
            "index_factor": money.factor_text(index_factor),
            "payment_period": claim.payment_period,
            "split": [
                {
                    "payer_organisation_id": str(x["payer_organisation_id"]),
                    "amount": money.text(x["amount"], currency),
                }
                for x in lines
            ],
        }
    await append_event(
        session,
        principal,
        claim.partnership_id,
        type=f"claim.{after.value}",
        subject=f"outcome-claims/{claim.id}",
        participant_id=claim.participant_id,
        data=data,
    )


async def decide_claim(
    session: AsyncSession,
    principal: Principal,
    claim_id: UUID,
    *,
    decision: str,
    reason: str | None,
    resolution: bool,
    expected_version: int | None,
    deps: Deps,
) -> OutcomeClaim:
    """Verify or reject a claim (`resolution`: resolve a dispute). Repeating the decision replays."""
    found = (
        await session.execute(
            readable_claims_and_participants(principal)
            .where(OutcomeClaim.id == claim_id)
            .with_for_update(of=OutcomeClaim)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if found is None:
        raise errors.ClaimNotFound()
    claim: OutcomeClaim = found[0]
    participant: Participant = found[1]
    _check_decider(principal, claim)
    version = await deps.contracts.version_in_force(
        claim.contract_id, claim.achievement_date, token=deps.token
    )
    after = _decision(
        principal,
        claim,
        version,
        decision=decision,
        reason=reason,
        resolution=resolution,
        expected_version=expected_version,
    )
    if after is None:
        return claim
    lines, moves, index_factor = (
        await _price(session, claim, participant, version)
        if after is ClaimStatus.VERIFIED
        else ([], [], Decimal(1))
    )
    await _record_decision(
        session,
        principal,
        claim,
        after,
        reason=reason,
        resolution=resolution,
        version=version,
        lines=lines,
        index_factor=index_factor,
    )
    if after is ClaimStatus.VERIFIED:
        await _write_verified(session, claim, lines, moves)
        remember_lines(session, claim.id, lines)
    await session.flush()
    return claim


# A batch's decisions, payment lines and counter moves in one statement, however many claims it decides:
# per-row UPDATEs would each fire the claims' statement-level tally trigger (statements/tallies.py) and
# cost a round of the unit of work per claim, and a statement per part a round trip each. The claims' rows
# come as JSON arrays (a claim's payers and cut reasons are arrays of their own, which `unnest` cannot
# carry), the lines and moves as arrays; an empty part writes nothing. A claim is in one part only, and a
# line's claim is checked at the statement's end. The text is fixed, so it is prepared once. The claims'
# rows are found by primary key (`= ANY`, the rows materialised once): the row-security filter makes the
# planner guess the table holds a few rows, and it would otherwise hash-join a scan of every claim.
_DECIDE_ALL = text(
    """
    WITH decided_rows AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(CAST(:decided AS jsonb)) AS r(
            id uuid, status text, verifier_organisation_id uuid, verified_by text, decided_at timestamptz,
            reason text, version integer)
    ),
    decided AS (
        UPDATE outcome_claims AS c
        SET status = r.status, verifier_organisation_id = r.verifier_organisation_id,
            verified_by = r.verified_by, decided_at = r.decided_at, reason = r.reason, version = r.version
        FROM decided_rows AS r
        WHERE c.id = r.id AND c.id = ANY(ARRAY(SELECT id FROM decided_rows))
        RETURNING 1
    ),
    priced_rows AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(CAST(:priced AS jsonb)) AS r(
            id uuid, status text, verifier_organisation_id uuid, verified_by text, decided_at timestamptz,
            reason text, version integer, priced_contract_version_id uuid, currency text, tariff numeric,
            payable numeric, cut numeric, cut_reasons jsonb, band text, tier smallint, tier_count integer,
            priced_on date, payment_period text, payer_organisation_ids uuid[])
    ),
    priced AS (
        UPDATE outcome_claims AS c
        SET status = r.status, verifier_organisation_id = r.verifier_organisation_id,
            verified_by = r.verified_by, decided_at = r.decided_at, reason = r.reason, version = r.version,
            priced_contract_version_id = r.priced_contract_version_id, currency = r.currency,
            tariff = r.tariff, payable = r.payable, cut = r.cut, cut_reasons = r.cut_reasons, band = r.band,
            tier = r.tier, tier_count = r.tier_count, priced_on = r.priced_on,
            payment_period = r.payment_period, payer_organisation_ids = r.payer_organisation_ids
        FROM priced_rows AS r
        WHERE c.id = r.id AND c.id = ANY(ARRAY(SELECT id FROM priced_rows))
        RETURNING 1
    ),
    lines AS (
        INSERT INTO payment_lines (id, claim_id, contract_id, payer_organisation_id, outcome_code,
            achievement_date, priced_on, currency, tariff_share, amount)
        SELECT * FROM unnest(
            CAST(:id AS uuid[]), CAST(:claim_id AS uuid[]), CAST(:contract_id AS uuid[]),
            CAST(:payer_organisation_id AS uuid[]), CAST(:outcome_code AS text[]),
            CAST(:achievement_date AS date[]), CAST(:priced_on AS date[]), CAST(:currency AS text[]),
            CAST(:tariff_share AS numeric[]), CAST(:amount AS numeric[])
        )
        RETURNING 1
    ),
    moved AS (
        UPDATE cap_counters AS c
        SET paid = c.paid + m.payable, count = c.count + m.count, cap = m.cap
        FROM unnest(
            CAST(:m_contract_ids AS uuid[]), CAST(:m_scopes AS text[]), CAST(:m_keys AS text[]),
            CAST(:m_payables AS numeric[]), CAST(:m_counts AS bigint[]), CAST(:m_caps AS numeric[])
        ) AS m(contract_id, scope, key, payable, count, cap)
        WHERE c.contract_id = m.contract_id AND c.scope = m.scope AND c.key = m.key
        RETURNING 1
    )
    SELECT 1
    """
)
_LINE_COLUMNS = (
    "id",
    "claim_id",
    "contract_id",
    "payer_organisation_id",
    "outcome_code",
    "achievement_date",
    "priced_on",
    "currency",
    "tariff_share",
    "amount",
)


@dataclass(frozen=True, slots=True)
class Decided:
    """One decision of a batch (`decide_many`): with the version its request read (`If-Match`), and
    whether it resolves a dispute, as `decide_claim` takes them."""

    claim_id: UUID
    decision: str  # verified | rejected
    reason: str | None
    expected_version: int | None = None
    resolution: bool = False


@dataclass(slots=True)
class _Pending:
    index: int
    claim: OutcomeClaim
    participant: Participant
    version: ContractVersion
    after: ClaimStatus
    decided: Decided
    pricing: _Pricing | None


async def decide_many(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID | None,
    decisions: Sequence[Decided],
    deps: Deps,
) -> list[OutcomeClaim | Problem]:
    """Decide distinct claims together (of one partnership, unless `partnership_id` is None), each as
    `decide_claim` would one after the other, in order: the same answers, prices and counters.

    The claims are locked in one query (in id order), then every counter the verified ones price against
    in one statement (in `lock_order`, which one claim's locking follows too, so a batch and single
    decisions never wait on each other in a cycle). The engine then prices the claims in order against
    the counters as the batch's earlier claims left them, in memory; the decisions, their payment lines
    and the counters' moves are then written in one statement each (the returned claims hold the values
    written). A refused decision writes nothing."""
    if len({d.claim_id for d in decisions}) != len(decisions):
        raise ValueError("decide_many decides each claim once")
    # By primary key alone: a partnership condition here would let the planner, on tables without
    # statistics, read the claims through the partnership's index (every claim of it) instead of by id;
    # the batch's partnership is checked on the rows read.
    query = readable_claims_and_participants(principal).where(
        OutcomeClaim.id.in_(sorted(d.claim_id for d in decisions))
    )
    rows = await session.execute(
        query.order_by(OutcomeClaim.id)
        .with_for_update(of=OutcomeClaim)
        .execution_options(populate_existing=True)
    )
    found = {
        claim.id: (claim, participant)
        for claim, participant in rows
        if partnership_id is None or claim.partnership_id == partnership_id
    }
    answers: list[OutcomeClaim | Problem | None] = []
    pending: list[_Pending] = []
    engines: Engines = {}
    for d in decisions:
        try:
            if d.claim_id not in found:
                raise errors.ClaimNotFound()
            claim, participant = found[d.claim_id]
            _check_decider(principal, claim)
            version = await deps.contracts.version_in_force(
                claim.contract_id, claim.achievement_date, token=deps.token
            )
            after = _decision(
                principal,
                claim,
                version,
                decision=d.decision,
                reason=d.reason,
                resolution=d.resolution,
                expected_version=d.expected_version,
            )
            if after is None:
                answers.append(claim)
                continue
            verified = after is ClaimStatus.VERIFIED
            p = _pricing_of(claim, participant, version, engines) if verified else None
        except Problem as problem:
            answers.append(problem)
            continue
        pending.append(_Pending(len(answers), claim, participant, version, after, d, p))
        answers.append(None)

    wanted: dict[CounterKey, tuple[_Counter, str]] = {}
    for item in pending:
        if item.pricing is not None:
            for c in item.pricing.counters:
                wanted.setdefault((item.claim.contract_id, c.scope, c.key), (c, item.pricing.currency))
    order = sorted(wanted, key=lock_order)
    held = dict(await _lock_counters(session, [(k[0], *wanted[k]) for k in order])) if order else {}
    moved: dict[CounterKey, tuple[Decimal, int, Decimal | None]] = {}
    priced: list[dict[str, Any]] = []  # the claims' new columns: priced ones, then decided only
    decided: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for item in pending:
        claim, p = item.claim, item.pricing
        values: dict[str, Any] = {}
        claim_lines: list[dict[str, Any]] = []
        index_factor = Decimal(1)
        if p is not None:
            usage = _usage(p, claim.contract_id, item.participant.id, held)
            try:
                price = _engine_price(claim, item.participant, p, usage)
            except Problem as problem:
                answers[item.index] = problem
                continue
            for c, amount in _moves(p, price):
                k = (claim.contract_id, c.scope, c.key)
                paid, count = held[k]
                held[k] = (paid + amount, count + 1)
                before = moved.get(k, (Decimal(0), 0, None))
                moved[k] = (before[0] + amount, before[1] + 1, c.cap)
            values, claim_lines = _priced(claim, item.version, p, price, usage)
            index_factor = _index_factor(price)
        values |= _decision_values(principal, claim, item.after, item.decided.reason)
        # Written below in one statement for the batch: the loaded claim takes the values as committed,
        # so the unit of work has nothing left to write for it.
        for name, value in values.items():
            set_committed_value(claim, name, value)
        (priced if p is not None else decided).append({"id": claim.id, **values})
        lines.extend(claim_lines)
        await _append_decision(
            session,
            principal,
            claim,
            item.after,
            reason=item.decided.reason,
            resolution=item.decided.resolution,
            version=item.version,
            lines=claim_lines,
            index_factor=index_factor,
        )
        answers[item.index] = claim
        remember_lines(session, claim.id, claim_lines)
    if priced or decided:
        keys = sorted(moved, key=lock_order)
        await session.execute(
            _DECIDE_ALL,
            {
                "priced": orjson.dumps(priced, default=str).decode(),
                "decided": orjson.dumps(decided, default=str).decode(),
                **{name: [line[name] for line in lines] for name in _LINE_COLUMNS},
                "m_contract_ids": [k[0] for k in keys],
                "m_scopes": [k[1] for k in keys],
                "m_keys": [k[2] for k in keys],
                "m_payables": [moved[k][0] for k in keys],
                "m_counts": [moved[k][1] for k in keys],
                "m_caps": [moved[k][2] for k in keys],
            },
        )
    await session.flush()
    return [answer for answer in answers if answer is not None]


async def dispute_claim(
    session: AsyncSession,
    principal: Principal,
    claim_id: UUID,
    *,
    reason: str,
    expected_version: int | None,
    deps: Deps,
) -> OutcomeClaim:
    """The claimant disputes a rejection, once."""
    claim = await get_claim(session, principal, claim_id, for_update=True)
    if not access.may_dispute(principal, claim):
        raise errors.NotAPartner("only the provider that made the claim may dispute its rejection")
    try:
        after = transition(ClaimStatus(claim.status), Action.DISPUTE, disputed=claim.disputed)
    except InvalidTransition as exc:
        raise errors.InvalidClaimTransition(exc.reason, claim_status=claim.status) from None
    if after is None:
        return claim
    check_version(claim.version, expected_version)
    # The rejected claim no longer held its slot; another claim may have taken it since.
    participant = await session.get_one(Participant, claim.participant_id, with_for_update=True)
    live = await live_claims(session, participant.id, claim.outcome_code, excluding=claim.id)
    version = await deps.contracts.version_in_force(
        claim.contract_id, claim.achievement_date, token=deps.token
    )
    outcome = version.terms.outcome(claim.outcome_code)
    limit = outcome.repeats(version.terms.schema_version).max_per_participant if outcome is not None else None
    if limit is not None and live >= limit:
        raise errors.PerParticipantMaximum(
            f"the participant already has {live} live `{claim.outcome_code}` claims"
        )
    claim.status, claim.disputed = after.value, True
    claim.dispute_reason, claim.disputed_at = reason, datetime.now(UTC)
    claim.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        claim.partnership_id,
        type="claim.disputed",
        subject=f"outcome-claims/{claim.id}",
        participant_id=claim.participant_id,
        data={"claim_id": str(claim.id), "reason": reason},
    )
    return claim
