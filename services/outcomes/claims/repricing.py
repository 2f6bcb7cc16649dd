"""Retroactive amendments: a version whose `start_date` (its effective date) lies before it was activated
governs claims that were already priced under the version before it. When the version activates (the
registry's change log, `contract_events.py`, read with the service's own client), its contract's priced
claims are replayed in their pricing order under the version in force on each achievement date
(`pricing.replay`, the engine's property-tested path), so tiers and caps read the totals the in-force terms
give; every claim whose price moved gets one adjustment line per payer for the difference
(`repriced_by_version_id`), booked on the payer's next statement, and the cap counters are set to the
replayed totals. Replaying again under the same version books nothing, so a second replica, a page read
again after a failure, and the catch-up before each statement (`statements.service`: a verification that
read the older version just before the activation, within the registry client's in-force cache, and
committed after the replay) all find nothing more to do or book only what is still missing.

Locks: the contract's counter row first, as every verification takes it first among the counters, so
pricing and a replay of one contract never interleave; then the contract's verified claims (a
verification locks only claims not yet verified); the ledger heads at commit (append_event).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import cast
from uuid import UUID, uuid4

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from services.outcomes import pricing
from services.outcomes.clients.contracts import ContractVersion
from services.outcomes.collaborators import today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import CapCounter, OutcomeClaim, Participant, PaymentLine
from services.outcomes.pricing import money
from services.outcomes.states import ClaimStatus

_COUNTERS = cast(Table, CapCounter.__table__)
ZERO = Decimal(0)


# Reads a version by id: with the caller's token before a statement, the service's own from the change log.
VersionReader = Callable[[UUID], Awaitable[ContractVersion]]


async def stale(session: AsyncSession, contract_id: UUID, version_id: UUID, start: date, end: date) -> bool:
    """Whether a claim achieved in the version's period (start to end) was priced under another version."""
    found = await session.scalar(
        select(OutcomeClaim.id)
        .where(
            OutcomeClaim.contract_id == contract_id,
            OutcomeClaim.status == ClaimStatus.VERIFIED.value,
            OutcomeClaim.achievement_date >= start,
            OutcomeClaim.achievement_date <= end,
            OutcomeClaim.priced_contract_version_id != version_id,
        )
        .limit(1)
    )
    return found is not None


async def _stale(session: AsyncSession, contract_id: UUID, version: ContractVersion) -> bool:
    return await stale(session, contract_id, version.id, version.terms.start_date, version.terms.end_date)


async def reprice_contract(
    session: AsyncSession, principal: Principal, version: ContractVersion, read_version: VersionReader
) -> int:
    """Bring every priced claim of the version's contract to its in-force price; how many moved."""
    contract_id = version.contract_id
    if not await _stale(session, contract_id, version):
        return 0
    await session.execute(
        insert(_COUNTERS)
        .values(contract_id=contract_id, scope="contract", key="", paid=ZERO, currency=version.terms.currency)
        .on_conflict_do_update(
            index_elements=[_COUNTERS.c.contract_id, _COUNTERS.c.scope, _COUNTERS.c.key],
            set_={"paid": _COUNTERS.c.paid},
        )
    )
    if not await _stale(session, contract_id, version):  # another replay finished while we waited
        return 0
    rows = (
        await session.execute(
            select(OutcomeClaim, Participant)
            .join(Participant, Participant.id == OutcomeClaim.participant_id)
            .where(OutcomeClaim.contract_id == contract_id, OutcomeClaim.status == ClaimStatus.VERIFIED.value)
            .order_by(OutcomeClaim.decided_at, OutcomeClaim.id)
            .with_for_update(of=OutcomeClaim)
        )
    ).all()
    history = [(claim, participant) for claim, participant in rows]
    # A claim a post-payment audit clawed back was found invalid: a re-pricing moves nothing for it (a price
    # rise would pay again what was taken back); it keeps its booked price in the replay's caps and tiers.
    clawed_back = set(
        await session.scalars(
            select(PaymentLine.claim_id).where(
                PaymentLine.claim_id.in_([c.id for c, _ in history]), PaymentLine.audit_id.is_not(None)
            )
        )
    )
    booked: dict[UUID, list[pricing.Line]] = defaultdict(list)
    for line in await session.scalars(
        select(PaymentLine).where(
            # What pricing booked; an audit's clawback (audits/) is no part of the claim's price.
            PaymentLine.claim_id.in_([c.id for c, _ in history]),
            PaymentLine.audit_id.is_(None),
        )
    ):
        booked[cast(UUID, line.claim_id)].append(  # selected by claim: never None
            pricing.Line(line.payer_organisation_id, line.tariff_share, line.amount)
        )

    governing: list[ContractVersion] = []
    for claim, _ in history:
        terms = version.terms
        if terms.start_date <= claim.achievement_date <= terms.end_date:
            governing.append(version)
        else:
            assert claim.priced_contract_version_id is not None
            governing.append(await read_version(claim.priced_contract_version_id))

    def as_booked(i: int) -> pricing.Price:
        lines = _net(booked[history[i][0].id])
        return pricing.Price(
            sum((x.tariff_share for x in lines), ZERO),
            sum((x.amount for x in lines), ZERO),
            lines=tuple(lines),
        )

    def price(i: int, book: pricing.Book) -> pricing.Price:
        claim, participant = history[i]
        if claim.id in clawed_back:
            return as_booked(i)
        terms = governing[i].terms
        outcome = terms.engine_outcome(claim.outcome_code)
        if outcome is None:
            return as_booked(i)  # the amendment dropped the outcome: its claims keep what they were paid
        engine_claim = pricing.Claim(
            claim.outcome_code,
            claim.facts or {},
            participant.segment,
            participant.municipality_code,
            claim.achievement_date,  # indexation reads it
        )
        usage = book.usage(str(participant.id), claim.outcome_code, claim.payment_period or "")
        try:
            return pricing.price(engine_claim, outcome, terms.engine(), usage)
        except pricing.Refused:
            return as_booked(i)

    steps = [
        pricing.Step(str(participant.id), claim.outcome_code, claim.payment_period or "")
        for claim, participant in history
    ]
    replayed = pricing.replay(steps, price)
    moved = 0
    currency = version.terms.currency
    for i, ((claim, _), new) in enumerate(zip(history, replayed, strict=True)):
        adjustments = pricing.adjustments(booked[claim.id], new.lines)
        if not adjustments and claim.priced_contract_version_id == governing[i].id:
            continue
        claim.priced_contract_version_id = governing[i].id
        if not adjustments:
            continue
        moved += 1
        session.add_all(
            PaymentLine(
                id=uuid4(),
                claim_id=claim.id,
                contract_id=contract_id,
                payer_organisation_id=a.organisation_id,
                outcome_code=claim.outcome_code,
                achievement_date=claim.achievement_date,
                priced_on=today(),
                currency=currency,
                tariff_share=a.tariff_share,
                amount=a.amount,
                repriced_by_version_id=version.id,
            )
            for a in adjustments
        )
        before = claim.payable
        # A payer whose share went is still charged the negative adjustment: it keeps reading the claim.
        claim.payer_organisation_ids = list(
            dict.fromkeys([*claim.payer_organisation_ids, *(x.organisation_id for x in new.lines)])
        )
        claim.tariff, claim.payable, claim.cut = new.tariff, new.payable, new.cut
        claim.cut_reasons = [{"cap": c.cap, "amount": money.text(c.amount, currency)} for c in new.cuts]
        if new.working is not None:
            claim.band, claim.tier, claim.tier_count = (
                new.working.band,
                new.working.tier,
                new.working.count_before,
            )
        await append_event(
            session,
            principal,
            claim.partnership_id,
            type="claim.repriced",
            subject=f"outcome-claims/{claim.id}",
            participant_id=claim.participant_id,
            data={
                "claim_id": str(claim.id),
                "contract_id": str(contract_id),
                "contract_version_id": str(version.id),
                "currency": currency,
                "payable_before": money.text(before or ZERO, currency),
                "payable": money.text(new.payable, currency),
                "index_factor": money.factor_text(new.working.index_factor if new.working else Decimal(1)),
                "adjustments": [
                    {
                        "payer_organisation_id": str(a.organisation_id),
                        "amount": money.text(a.amount, currency),
                    }
                    for a in adjustments
                ],
            },
        )
    await _set_counters(session, contract_id, history, replayed, currency)
    await session.flush()
    return moved


def _net(lines: list[pricing.Line]) -> list[pricing.Line]:
    """A claim's lines and earlier adjustments, summed per payer."""
    total: dict[UUID, tuple[Decimal, Decimal]] = {}
    for x in lines:
        t, a = total.get(x.organisation_id, (ZERO, ZERO))
        total[x.organisation_id] = (t + x.tariff_share, a + x.amount)
    return [pricing.Line(org, t, a) for org, (t, a) in total.items()]


async def _set_counters(
    session: AsyncSession,
    contract_id: UUID,
    history: list[tuple[OutcomeClaim, Participant]],
    replayed: list[pricing.Price],
    currency: str,
) -> None:
    """Every counter of the contract at the replayed totals (those no claim reaches go to zero)."""
    paid: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    counted: defaultdict[tuple[str, str], int] = defaultdict(int)
    for (claim, participant), price in zip(history, replayed, strict=True):
        for key in (
            ("contract", ""),
            ("outcome", claim.outcome_code),
            ("period", claim.payment_period or ""),
            ("participant", str(participant.id)),
        ):
            paid[key] += price.payable
            counted[key] += 1
        for line in price.lines:
            paid[("payer", str(line.organisation_id))] += line.amount
            counted[("payer", str(line.organisation_id))] += 1
    await session.execute(
        update(_COUNTERS).where(_COUNTERS.c.contract_id == contract_id).values(paid=ZERO, count=0)
    )
    if paid:
        statement = insert(_COUNTERS).values(
            [
                {
                    "contract_id": contract_id,
                    "scope": s,
                    "key": k,
                    "paid": v,
                    "count": counted[(s, k)],
                    "currency": currency,
                }
                for (s, k), v in paid.items()
            ]
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[_COUNTERS.c.contract_id, _COUNTERS.c.scope, _COUNTERS.c.key],
                set_={"paid": statement.excluded.paid, "count": statement.excluded.count},
            )
        )
