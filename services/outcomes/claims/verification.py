"""Deciding claims: verification, rejection, disputes and their resolution, and pricing a verified
claim under cap-counter locks (contract, then period, then participant; then the ledger head)."""

from __future__ import annotations

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
from services.outcomes.claims.service import get_claim, live_claims
from services.outcomes.clients.contracts import ContractVersion, Outcome
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import CapCounter, Money, OutcomeClaim, Participant, PaymentLine
from services.outcomes.states import Action, ClaimStatus, InvalidTransition, transition


def payment_period_key(day: date, payment_period: str) -> str:
    """The payment period a day falls in, as the per-period cap counts it (terms know only these two)."""
    if payment_period == "monthly":
        return f"{day.year}-{day.month:02d}"
    if payment_period == "quarterly":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise ValueError(f"unknown payment period {payment_period!r}")


_COUNTERS = cast(Table, CapCounter.__table__)  # Core statements: no ORM bookkeeping under the locks
_COUNTER_SCOPES = ("contract", "period", "participant")


_LOCK_COUNTERS = (
    insert(_COUNTERS)
    .values(
        [
            {
                "contract_id": bindparam("c_contract_id"),
                "scope": scope,
                "key": bindparam(f"c_{scope}_key"),
                "paid": Decimal(0),
                "currency": bindparam("c_currency"),
            }
            for scope in _COUNTER_SCOPES
        ]
    )
    .on_conflict_do_update(
        index_elements=[_COUNTERS.c.contract_id, _COUNTERS.c.scope, _COUNTERS.c.key],
        set_={"paid": _COUNTERS.c.paid},
    )
    .returning(_COUNTERS.c.scope, _COUNTERS.c.paid)
)


async def _lock_counters(
    session: AsyncSession, contract_id: UUID, period: str, participant_id: UUID, currency: str
) -> dict[str, Decimal]:
    """What is paid so far against each cap, the three counters locked (created when missing) in one
    statement, in the one lock order: contract, then period, then participant (the VALUES order, which
    ON CONFLICT follows row by row). The no-op update on conflict is what takes the row lock."""
    params = {
        "c_contract_id": contract_id,
        "c_contract_key": "",
        "c_period_key": period,
        "c_participant_key": str(participant_id),
        "c_currency": currency,
    }
    return {scope: paid for scope, paid in (await session.execute(_LOCK_COUNTERS, params)).tuples()}


_ADD_PAID = (
    update(_COUNTERS)
    .where(
        _COUNTERS.c.contract_id == bindparam("b_contract_id"),
        _COUNTERS.c.scope == bindparam("b_scope"),
        _COUNTERS.c.key == bindparam("b_key"),
    )
    .values(paid=_COUNTERS.c.paid + bindparam("b_payable", type_=Money), cap=bindparam("b_cap", type_=Money))
)


async def _price(
    session: AsyncSession,
    claim: OutcomeClaim,
    participant: Participant,
    version: ContractVersion,
    outcome: Outcome,
) -> list[PaymentLine]:
    """Price a claim being verified: tariff, caps under row locks, payer split into payment lines."""
    terms, priced_on = version.terms, today()
    currency = terms.currency
    if not pricing.supported(currency):
        raise errors.CurrencyNotSupported(f"amounts in {currency} need more than two decimals")
    period = payment_period_key(priced_on, terms.payment_period)
    paid = await _lock_counters(session, claim.contract_id, period, participant.id, currency)
    caps = pricing.Caps(
        per_participant=terms.caps.per_participant,
        contract_total=terms.caps.contract_total,
        per_period=terms.caps.per_period,
    )
    usage = pricing.CapUsage(
        participant=paid["participant"], contract=paid["contract"], period=paid["period"]
    )
    tariff = pricing.quantise(outcome.tariff, currency)
    price = pricing.price_claim(tariff, caps, usage)
    await session.execute(
        _ADD_PAID,
        [
            {
                "b_contract_id": claim.contract_id,
                "b_scope": scope,
                "b_key": key,
                "b_payable": price.payable,
                "b_cap": cap,
            }
            for scope, key, cap in (
                ("contract", "", caps.contract_total),
                ("period", period, caps.per_period),
                ("participant", str(participant.id), caps.per_participant),
            )
        ],
    )

    split = terms.payer_split
    if split.method == "fixed":
        shares = [pricing.Share(s.organisation_id, s.percent) for s in split.shares]
        amounts = pricing.split_fixed(price.payable, shares, currency)
        tariffs = pricing.split_fixed(price.tariff, shares, currency)
    else:
        homes = [(m.organisation_id, m.municipality_code) for m in split.municipalities]
        try:
            amounts = pricing.split_residence(price.payable, homes, participant.municipality_code)
        except LookupError:
            raise errors.MunicipalityNotPaying(
                f"municipality {participant.municipality_code} is not a paying party of the contract"
            ) from None
        tariffs = pricing.split_residence(price.tariff, homes, participant.municipality_code)
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
            tariff_share=tariff_line.amount,
            amount=line.amount,
        )
        for line, tariff_line in zip(amounts, tariffs, strict=True)
    ]
    session.add_all(lines)
    claim.priced_contract_version_id = version.id
    claim.currency = currency
    claim.tariff, claim.payable, claim.cut = price.tariff, price.payable, price.cut
    claim.cut_reasons = [{"cap": c.cap, "amount": f"{c.amount:.2f}"} for c in price.cuts]
    claim.priced_on, claim.payment_period = priced_on, period
    return lines


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

    lines = (
        await _price(session, claim, participant, version, outcome) if after is ClaimStatus.VERIFIED else []
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
        data |= {
            "contract_version_id": str(version.id),
            "currency": claim.currency,
            "tariff": f"{claim.tariff:.2f}",
            "payable": f"{claim.payable:.2f}",
            "cut": f"{claim.cut:.2f}",
            "cut_reasons": claim.cut_reasons,
            "payment_period": claim.payment_period,
            "split": [
                {"payer_organisation_id": str(x.payer_organisation_id), "amount": f"{x.amount:.2f}"}
                for x in lines
            ],
        }
    await append_event(
        session,
        principal,
        claim.partnership_id,
        type=f"claim.{after.value}",
        subject=f"outcome-claims/{claim.id}",
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
    limit = outcome.max_per_participant if outcome is not None else None
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
        data={"claim_id": str(claim.id), "reason": reason},
    )
    return claim
