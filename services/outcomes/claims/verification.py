"""Deciding claims: verification, rejection, disputes and their resolution, and pricing a verified
claim under cap-counter locks (contract, outcome, payers, period, participant; then the ledger head)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid4

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Unprocessable
from kit.versions import check_version
from services.outcomes import access, errors, pricing
from services.outcomes.access import readable_claims
from services.outcomes.claims.service import get_claim, live_claims, refusal
from services.outcomes.clients.contracts import ContractVersion
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import CapCounter, Money, OutcomeClaim, Participant, PaymentLine
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


async def _lock_counters(
    session: AsyncSession, contract_id: UUID, counters: list[_Counter], currency: str
) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """What is paid (and counted) so far against each counter, all locked (created when missing) in one
    statement in the order given, which ON CONFLICT follows row by row. The no-op update on conflict is
    what takes the row lock."""
    statement = (
        insert(_COUNTERS)
        .values(
            [
                {
                    "contract_id": contract_id,
                    "scope": c.scope,
                    "key": c.key,
                    "paid": Decimal(0),
                    "currency": currency,
                }
                for c in counters
            ]
        )
        .on_conflict_do_update(
            index_elements=[_COUNTERS.c.contract_id, _COUNTERS.c.scope, _COUNTERS.c.key],
            set_={"paid": _COUNTERS.c.paid},
        )
        .returning(_COUNTERS.c.scope, _COUNTERS.c.key, _COUNTERS.c.paid, _COUNTERS.c.count)
    )
    return {
        (scope, key): (paid, count) for scope, key, paid, count in (await session.execute(statement)).tuples()
    }


_ADD_PAID = (
    update(_COUNTERS)
    .where(
        _COUNTERS.c.contract_id == bindparam("b_contract_id"),
        _COUNTERS.c.scope == bindparam("b_scope"),
        _COUNTERS.c.key == bindparam("b_key"),
    )
    .values(
        paid=_COUNTERS.c.paid + bindparam("b_payable", type_=Money),
        count=_COUNTERS.c.count + 1,
        cap=bindparam("b_cap", type_=Money),
    )
)


def engine_claim(claim: OutcomeClaim, participant: Participant) -> pricing.Claim:
    return pricing.Claim(
        claim.outcome_code,
        claim.facts or {},
        participant.segment,
        participant.municipality_code,
        claim.achievement_date,
    )


async def _price(
    session: AsyncSession,
    claim: OutcomeClaim,
    participant: Participant,
    version: ContractVersion,
) -> tuple[list[PaymentLine], Decimal]:
    """Price a claim being verified: the engine, reading tier counts and cap room under the counter row
    locks, its lines one per payer, and the indexation factor its prices were at."""
    terms, priced_on = version.terms, today()
    currency = terms.currency
    if not pricing.supported(currency):
        raise errors.CurrencyNotSupported(f"amounts in {currency} need more than three decimals")
    contract, outcome = terms.engine(), terms.engine_outcome(claim.outcome_code)
    if outcome is None:
        raise errors.UnknownOutcome(f"the version in force no longer has outcome `{claim.outcome_code}`")
    # The per-period cap counts the period a claim falls in on its statement (the terms' basis).
    on = claim.achievement_date if terms.statement_basis == "achievement" else priced_on
    period = payment_period_key(on, terms.payment_period)
    counters = _counters(claim.contract_id, contract, outcome, period, participant.id)
    held = await _lock_counters(session, claim.contract_id, counters, currency)
    usage = pricing.CapUsage(
        participant=held[("participant", str(participant.id))][0],
        contract=held[("contract", "")][0],
        period=held[("period", period)][0],
        outcome_count=held[("outcome", outcome.code)][1],
        outcome_paid=held[("outcome", outcome.code)][0],
        payers={UUID(key): paid for (scope, key), (paid, _) in held.items() if scope == "payer"},
    )
    try:
        price = pricing.price(engine_claim(claim, participant), outcome, contract, usage)
    except pricing.Refused as refused:
        raise refusal(refused, prefix="") from None
    by_payer = {str(line.organisation_id): line.amount for line in price.lines}
    await session.execute(
        _ADD_PAID,
        [
            {
                "b_contract_id": claim.contract_id,
                "b_scope": c.scope,
                "b_key": c.key,
                "b_payable": by_payer.get(c.key, Decimal(0)) if c.scope == "payer" else price.payable,
                "b_cap": c.cap,
            }
            for c in counters
        ],
    )
    lines = [
        PaymentLine(
            id=uuid4(),
            claim_id=claim.id,
            contract_id=claim.contract_id,
            payer_organisation_id=line.organisation_id,
            outcome_code=claim.outcome_code,
            achievement_date=claim.achievement_date,
            priced_on=priced_on,
            currency=currency,
            tariff_share=line.tariff_share,
            amount=line.amount,
        )
        for line in price.lines
    ]
    session.add_all(lines)
    claim.priced_contract_version_id = version.id
    claim.currency = currency
    claim.tariff, claim.payable, claim.cut = price.tariff, price.payable, price.cut
    claim.cut_reasons = [{"cap": c.cap, "amount": money.text(c.amount, currency)} for c in price.cuts]
    working = price.working
    claim.band = working.band if working else None
    claim.tier = working.tier if working else None
    claim.tier_count = usage.outcome_count
    claim.priced_on, claim.payment_period = priced_on, period
    claim.payer_organisation_ids = list(dict.fromkeys(line.organisation_id for line in price.lines))
    return lines, working.index_factor if working else Decimal(1)


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
            readable_claims(principal)
            .add_columns(Participant)
            .where(OutcomeClaim.id == claim_id)
            .with_for_update(of=OutcomeClaim)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if found is None:
        raise errors.ClaimNotFound()
    claim: OutcomeClaim = found[0]
    participant: Participant = found[1]
    # The caller's right to decide comes before the claim's state: a replayed decision, or a refused
    # transition, would otherwise answer someone who may not decide (tests/test_authorisation_matrix.py).
    if claim.claimant_organisation_id == principal.organisation_id:
        raise errors.OwnClaimVerification("the claimant's organisation cannot decide its own claim")
    version = await deps.contracts.version_in_force(
        claim.contract_id, claim.achievement_date, token=deps.token
    )
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
        return claim
    check_version(claim.version, expected_version)
    if after is ClaimStatus.REJECTED and reason is None:
        raise Unprocessable.field("body.reason", "a rejection needs a reason")

    lines, index_factor = (
        await _price(session, claim, participant, version)
        if after is ClaimStatus.VERIFIED
        else ([], Decimal(1))
    )
    claim.status = after.value
    claim.verifier_organisation_id = principal.organisation_id
    claim.verified_by = principal.subject
    claim.decided_at = datetime.now(UTC)
    claim.reason = reason
    claim.version += 1
    await session.flush()
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
            assert amount is not None  # set by pricing just above
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
                    "payer_organisation_id": str(x.payer_organisation_id),
                    "amount": money.text(x.amount, currency),
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
    return claim


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
