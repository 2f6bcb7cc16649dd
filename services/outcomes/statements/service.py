"""Payment statements and the investor-safe aggregates.

A statement is per contract, per outcome payer, per period. Generating it (again) attaches every
unassigned payment line of that payer priced up to the period's end: lines priced inside the period are
`claim` lines, lines priced earlier that an already issued statement missed are `adjustment` lines, so a
correction after issue lands in the next statement. The payer's tranche payments (terms v2 `tranches`)
due in the period are booked first, once each, as `tranche` lines, each with a `tranche.booked` event;
likewise a temporary variation's scenario payments, as `variation` lines (`variations.py`), and its
approved cohort payments, as `cohort` lines (services/outcomes/cohorts/booking.py). A scheduled payment due
in an earlier period whose statement was issued without it (a later amendment added it) is booked on the
payer's next statement. A closed post-payment audit's lines (audits/) join the payer's next statement as
`clawback` and `extrapolated` lines, negative, with their own totals (`audit_totals_of`).
Totals are recomputed as sums of the lines. Issuing freezes the statement and hashes it; the database
refuses later changes to it or its lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Unprocessable
from kit.versions import check_version
from services.outcomes import access, errors
from services.outcomes.access import readable_statements
from services.outcomes.chain import canonical_json
from services.outcomes.claims.repricing import reprice_contract
from services.outcomes.clients.contracts import CellLayout, ContractVersion
from services.outcomes.cohorts.booking import book_cohort_payments
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import CapCounter, PaymentLine, PaymentStatement
from services.outcomes.pricing import money
from services.outcomes.pricing import tranches as tranches_
from services.outcomes.schemas import StatementCreate
from services.outcomes.statements import small_cells, tallies
from services.outcomes.statements.variations import book_variations
from services.outcomes.states import StatementStatus

ZERO = Decimal(0)


async def get_statement(
    session: AsyncSession, principal: Principal, statement_id: UUID, *, for_update: bool = False
) -> PaymentStatement:
    query = readable_statements(principal).where(PaymentStatement.id == statement_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    statement = (await session.execute(query)).scalar_one_or_none()
    if statement is None:
        raise errors.StatementNotFound()
    return statement


async def list_statements(
    session: AsyncSession,
    principal: Principal,
    *,
    contract_id: UUID | None,
    ids: list[UUID] | None,
    after: UUID | None,
    limit: int,
) -> list[PaymentStatement]:
    query = readable_statements(principal)
    if contract_id is not None:
        query = query.where(PaymentStatement.contract_id == contract_id)
    if ids is not None:
        query = query.where(PaymentStatement.id.in_(ids))
    if after is not None:
        query = query.where(PaymentStatement.id > after)
    return list((await session.execute(query.order_by(PaymentStatement.id).limit(limit))).scalars())


async def statement_lines(session: AsyncSession, statement_id: UUID) -> list[PaymentLine]:
    return (await lines_of(session, [statement_id])).get(statement_id, [])


async def lines_of(session: AsyncSession, statement_ids: list[UUID]) -> dict[UUID, list[PaymentLine]]:
    """Each statement's lines, in the order a statement lists them, in one read for a whole page."""
    rows = await session.execute(
        select(PaymentLine)
        .where(PaymentLine.statement_id.in_(statement_ids))
        .order_by(PaymentLine.statement_id, PaymentLine.kind, PaymentLine.priced_on, PaymentLine.claim_id)
    )
    found: dict[UUID, list[PaymentLine]] = {}
    for line in rows.scalars():
        found.setdefault(cast(UUID, line.statement_id), []).append(line)
    return found


async def outcome_totals_of(
    session: AsyncSession, statement_ids: list[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    """Each statement's totals by outcome code (in code order), summed from its claim and adjustment lines
    in one read (tranche lines have no outcome: `tranche_totals_of`; audits': `audit_totals_of`)."""
    is_claim = PaymentLine.kind == "claim"
    rows = await session.execute(
        select(
            PaymentLine.statement_id,
            PaymentLine.outcome_code,
            func.count().filter(is_claim),
            func.count().filter(~is_claim),
            func.sum(PaymentLine.tariff_share),
            func.sum(PaymentLine.amount),
        )
        .where(
            PaymentLine.statement_id.in_(statement_ids),
            PaymentLine.tranche_code.is_(None),
            PaymentLine.variation_code.is_(None),
            PaymentLine.audit_id.is_(None),  # an audit's lines have totals of their own
            PaymentLine.cohort_payment_id.is_(None),  # no outcome either: cohorts/booking.py
        )
        .group_by(PaymentLine.statement_id, PaymentLine.outcome_code)
        .order_by(PaymentLine.statement_id, PaymentLine.outcome_code)
    )
    found: dict[UUID, list[dict[str, Any]]] = {}
    for statement_id, code, claim_lines, adjustment_lines, tariff, amount in rows.all():
        found.setdefault(cast(UUID, statement_id), []).append(
            {
                "outcome_code": code,
                "claim_lines": claim_lines,
                "adjustment_lines": adjustment_lines,
                "tariff_share": tariff,
                "cut_share": tariff - amount,
                "amount": amount,
            }
        )
    return found


async def tranche_totals_of(
    session: AsyncSession, statement_ids: list[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    """Each statement's tranche payments (by code and due date): no claim or person, so every reader of the
    statement sees them beside its totals by outcome."""
    rows = await session.execute(
        select(
            PaymentLine.statement_id, PaymentLine.tranche_code, PaymentLine.tranche_due, PaymentLine.amount
        )
        .where(PaymentLine.statement_id.in_(statement_ids), PaymentLine.tranche_code.is_not(None))
        .order_by(PaymentLine.statement_id, PaymentLine.tranche_due, PaymentLine.tranche_code)
    )
    found: dict[UUID, list[dict[str, Any]]] = {}
    for statement_id, code, due, amount in rows.all():
        found.setdefault(cast(UUID, statement_id), []).append(
            {"tranche_code": code, "due_date": due, "amount": amount}
        )
    return found


async def variation_totals_of(
    session: AsyncSession, statement_ids: list[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    """Each statement's scenario payments (by due date and code): no claim or person, so every reader of
    the statement sees them, as it sees its tranches."""
    rows = await session.execute(
        select(
            PaymentLine.statement_id,
            PaymentLine.variation_code,
            PaymentLine.variation_due,
            PaymentLine.amount,
        )
        .where(PaymentLine.statement_id.in_(statement_ids), PaymentLine.variation_code.is_not(None))
        .order_by(PaymentLine.statement_id, PaymentLine.variation_due, PaymentLine.variation_code)
    )
    found: dict[UUID, list[dict[str, Any]]] = {}
    for statement_id, code, due, amount in rows.all():
        found.setdefault(cast(UUID, statement_id), []).append(
            {"variation_code": code, "due_date": due, "amount": amount}
        )
    return found


async def _version_for_period(deps: Deps, contract_id: UUID, start: date, end: date) -> ContractVersion:
    try:
        return await deps.contracts.version_in_force(contract_id, end, token=deps.token)
    except errors.NoVersionInForce:
        return await deps.contracts.version_in_force(contract_id, start, token=deps.token)


async def _newest_version(deps: Deps, contract_id: UUID, version: ContractVersion) -> ContractVersion:
    """The later-starting of `version` and the version in force today (none after the contract ends)."""
    try:
        current = await deps.contracts.version_in_force(contract_id, today(), token=deps.token)
    except errors.NoVersionInForce:
        return version
    return current if current.terms.start_date > version.terms.start_date else version


async def _attach_lines(session: AsyncSession, statement: PaymentStatement) -> None:
    """Attach unassigned lines and recompute the totals from the lines. A line falls in the period of its
    pricing (basis `verification`) or of its claim's achievement (basis `achievement`); a re-pricing's
    adjustment lines always fall in the period they were booked in."""
    basis_day = PaymentLine.achievement_date if statement.basis == "achievement" else PaymentLine.priced_on
    day = case((PaymentLine.repriced_by_version_id.is_not(None), PaymentLine.priced_on), else_=basis_day)
    await session.execute(
        update(PaymentLine)
        .where(
            PaymentLine.statement_id.is_(None),
            PaymentLine.contract_id == statement.contract_id,
            PaymentLine.payer_organisation_id == statement.payer_organisation_id,
            day <= statement.period_end,
        )
        .values(
            statement_id=statement.id,
            kind=case(
                (PaymentLine.tranche_code.is_not(None), "tranche"),
                (PaymentLine.variation_code.is_not(None), "variation"),
                (PaymentLine.audit_id.is_not(None) & PaymentLine.claim_id.is_not(None), "clawback"),
                (PaymentLine.audit_id.is_not(None), "extrapolated"),
                (PaymentLine.cohort_payment_id.is_not(None), "cohort"),
                (PaymentLine.repriced_by_version_id.is_(None) & (day >= statement.period_start), "claim"),
                else_="adjustment",
            ),
        )
    )
    total, tariff = (
        await session.execute(
            select(
                func.coalesce(func.sum(PaymentLine.amount), 0),
                func.coalesce(func.sum(PaymentLine.tariff_share), 0),
            ).where(PaymentLine.statement_id == statement.id)
        )
    ).one()
    statement.total, statement.total_tariff = Decimal(total), Decimal(tariff)
    statement.total_cut = statement.total_tariff - statement.total


async def _bookable(session: AsyncSession, statement: PaymentStatement) -> Callable[[date], bool]:
    """Which scheduled payments (tranches, scenario payments) the statement books: those due in its period,
    and those due in an earlier period whose statement was issued without them (an amendment added them
    after it was issued). One due in an earlier period still a draft, or never drafted, waits for it."""
    issued = (
        await session.execute(
            select(PaymentStatement.period_start, PaymentStatement.period_end).where(
                PaymentStatement.contract_id == statement.contract_id,
                PaymentStatement.payer_organisation_id == statement.payer_organisation_id,
                PaymentStatement.status != StatementStatus.DRAFT.value,
                PaymentStatement.period_end < statement.period_start,
            )
        )
    ).all()

    def bookable(day: date) -> bool:
        if statement.period_start <= day <= statement.period_end:
            return True
        return day < statement.period_start and any(start <= day <= end for start, end in issued)

    return bookable


async def _book_tranches(
    session: AsyncSession,
    principal: Principal,
    statement: PaymentStatement,
    version: ContractVersion,
    bookable: Callable[[date], bool],
) -> None:
    """Book the payer's tranche payments under `version` that `bookable` admits: each once (the line's
    source is unique), and each booking recorded in the ledger with its working."""
    terms = version.terms
    try:
        due = tranches_.due(
            [t.engine() for t in terms.tranches],
            statement.payer_organisation_id,
            date.min,
            statement.period_end,
            terms.currency,
        )
    except ValueError as exc:  # the registry validated the terms; an inexact amount is not ours to round
        raise Unprocessable(f"the contract's tranches cannot be paid exactly: {exc}") from None
    for payment in due:
        if not bookable(payment.due_date):
            continue
        booked = (
            await session.execute(
                insert(PaymentLine)
                .values(
                    contract_id=statement.contract_id,
                    payer_organisation_id=payment.payer,
                    tranche_code=payment.code,
                    tranche_due=payment.due_date,
                    achievement_date=payment.due_date,
                    priced_on=payment.due_date,
                    currency=terms.currency,
                    tariff_share=payment.amount,
                    amount=payment.amount,
                )
                .on_conflict_do_nothing()
                .returning(PaymentLine.id)
            )
        ).scalar_one_or_none()
        if booked is None:
            continue  # booked by an earlier refresh
        await append_event(
            session,
            principal,
            statement.partnership_id,
            type="tranche.booked",
            subject=f"payment-lines/{booked}",
            data={
                "payment_line_id": str(booked),
                "contract_id": str(statement.contract_id),
                "contract_version_id": str(version.id),
                "payer_organisation_id": str(payment.payer),
                "currency": terms.currency,
                "late": payment.due_date < statement.period_start,
                "working": tranches_.working(payment, terms.currency),
            },
        )


def _statement_event(statement: PaymentStatement) -> dict[str, Any]:
    return {
        "statement_id": str(statement.id),
        "contract_id": str(statement.contract_id),
        "payer_organisation_id": str(statement.payer_organisation_id),
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "currency": statement.currency,
        "total": money.text(statement.total, statement.currency),
        "total_tariff": money.text(statement.total_tariff, statement.currency),
        "total_cut": money.text(statement.total_cut, statement.currency),
        "content_hash": statement.content_hash,
    }


async def generate_statement(
    session: AsyncSession, principal: Principal, body: StatementCreate, deps: Deps
) -> PaymentStatement:
    """Create, or refresh, the draft statement for a contract, payer and period."""
    if body.period_end < body.period_start:
        raise Unprocessable.field("body.period_end", "must not precede period_start")
    version = await _version_for_period(deps, body.contract_id, body.period_start, body.period_end)
    if not access.may_prepare_statement(principal, version.partnership_id, body.payer_organisation_id):
        raise errors.NotAPartner("the provider, or the payer itself, prepares a payer's statement")
    if body.payer_organisation_id not in version.terms.statement_payers():
        raise Unprocessable.field("body.payer_organisation_id", "is not an outcome payer of the contract")
    # A retroactive amendment is re-priced when it activates (contract_events.py); this catches up a claim
    # a verification priced under the older version while the activation was being recorded. Its
    # adjustments, like the activation's, land in this statement.
    # The catch-up replays under the newest version: a past period's version governs only until the next
    # one starts, and replaying under it would move the claims its successor priced.
    newest = await _newest_version(deps, body.contract_id, version)
    await reprice_contract(
        session, principal, newest, lambda version_id: deps.contracts.version(version_id, token=deps.token)
    )
    await session.execute(
        insert(PaymentStatement)
        .values(
            partnership_id=version.partnership_id,
            contract_id=body.contract_id,
            payer_organisation_id=body.payer_organisation_id,
            period_start=body.period_start,
            period_end=body.period_end,
            currency=version.terms.currency,
            basis=version.terms.statement_basis,
            created_by=principal.subject,
        )
        .on_conflict_do_nothing()
    )
    statement = (
        await session.execute(
            select(PaymentStatement)
            .where(
                PaymentStatement.contract_id == body.contract_id,
                PaymentStatement.payer_organisation_id == body.payer_organisation_id,
                PaymentStatement.period_start == body.period_start,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if statement.period_end != body.period_end:
        raise Unprocessable.field("body.period_end", f"this period's statement ends {statement.period_end}")
    if statement.status != StatementStatus.DRAFT:
        raise errors.StatementNotDraft(f"the statement for this period is {statement.status}")
    bookable = await _bookable(session, statement)
    await _book_tranches(session, principal, statement, version, bookable)
    await book_variations(session, principal, statement, version, bookable)
    await book_cohort_payments(session, principal, statement)
    await _attach_lines(session, statement)
    statement.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        statement.partnership_id,
        type="statement.drafted",
        subject=f"payment-statements/{statement.id}",
        data=_statement_event(statement),
    )
    return statement


def content_hash(statement: PaymentStatement, lines: list[PaymentLine]) -> str:
    document = {
        "id": str(statement.id),
        "contract_id": str(statement.contract_id),
        "payer_organisation_id": str(statement.payer_organisation_id),
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "currency": statement.currency,
        "total": money.text(statement.total, statement.currency),
        "total_tariff": money.text(statement.total_tariff, statement.currency),
        "lines": [_hashed_line(x, statement.currency) for x in lines],
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _hashed_line(line: PaymentLine, currency: str) -> dict[str, str]:
    if line.audit_id is not None:
        return {
            "kind": str(line.kind),
            "audit_id": str(line.audit_id),
            "priced_on": line.priced_on.isoformat(),
            "amount": money.text(line.amount, currency),
        } | ({"claim_id": str(line.claim_id)} if line.claim_id is not None else {})
    if line.cohort_payment_id is not None:
        return {
            "kind": "cohort",
            "cohort_payment_id": str(line.cohort_payment_id),
            "cohort_code": str(line.cohort_code),
            "priced_on": line.priced_on.isoformat(),
            "tariff_share": money.text(line.tariff_share, currency),
            "amount": money.text(line.amount, currency),
        }
    if line.tranche_code is not None:
        return {
            "kind": "tranche",
            "tranche_code": line.tranche_code,
            "priced_on": line.priced_on.isoformat(),
            "tariff_share": money.text(line.tariff_share, currency),
            "amount": money.text(line.amount, currency),
        }
    if line.variation_code is not None:
        return {
            "kind": "variation",
            "variation_code": line.variation_code,
            "priced_on": line.priced_on.isoformat(),
            "tariff_share": money.text(line.tariff_share, currency),
            "amount": money.text(line.amount, currency),
        }
    return {
        "claim_id": str(line.claim_id),
        "kind": str(line.kind),
        "outcome_code": str(line.outcome_code),
        "achievement_date": line.achievement_date.isoformat(),
        "priced_on": line.priced_on.isoformat(),
        "tariff_share": money.text(line.tariff_share, currency),
        "amount": money.text(line.amount, currency),
    } | (
        # Only a re-pricing's line names its amendment, so statements from before it hash as they did.
        {"repriced_by_version_id": str(line.repriced_by_version_id)} if line.repriced_by_version_id else {}
    )


async def issue_statement(
    session: AsyncSession,
    principal: Principal,
    statement_id: UUID,
    *,
    expected_version: int | None,
    deps: Deps,
) -> PaymentStatement:
    """Freeze a draft: attach any last lines, hash it; a retry replays. Its `statement.summarised` is
    published under the partnership's small-cell threshold, read from the registry (small_cells.py)."""
    statement = await get_statement(session, principal, statement_id, for_update=True)
    if not access.may_prepare_statement(principal, statement.partnership_id, statement.payer_organisation_id):
        raise errors.NotAPartner("the provider, or the payer itself, issues a payer's statement")
    if statement.status != StatementStatus.DRAFT:
        return statement
    check_version(statement.version, expected_version)
    layout = await deps.contracts.small_cell_layout(statement.partnership_id, token=deps.token)
    await _attach_lines(session, statement)
    await session.flush()
    statement.content_hash = content_hash(statement, await statement_lines(session, statement.id))
    statement.status, statement.issued_at, statement.issued_by = (
        StatementStatus.ISSUED.value,
        datetime.now(UTC),
        principal.subject,
    )
    statement.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        statement.partnership_id,
        type="statement.issued",
        subject=f"payment-statements/{statement.id}",
        data=_statement_event(statement),
    )
    await append_event(
        session,
        principal,
        statement.partnership_id,
        type="statement.summarised",
        subject=f"payment-statements/{statement.id}",
        data=await _summary(session, statement, layout),
    )
    return statement


async def _summary(session: AsyncSession, statement: PaymentStatement, layout: CellLayout) -> dict[str, Any]:
    """The aggregate the audiences without person-level events read instead: what the issued statement
    pays by outcome and kind, the contract's enrolment counts and its cap room, naming no person; every
    count under the small-cell rule, for every partner reads it (small_cells.summary)."""
    by_outcome: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for line in await statement_lines(session, statement.id):
        # A tranche (variation, cohort) line has no outcome: it is summed under its tranche's (variation's,
        # cohort outcome's) code, as its kind; an audit's extrapolation under `audit:<id>`, as `extrapolated`.
        source = (
            line.outcome_code
            or line.tranche_code
            or line.variation_code
            or line.cohort_code
            or f"audit:{line.audit_id}"
        )
        key = (source, line.kind or "claim")
        n, amount = by_outcome.get(key, (0, ZERO))
        by_outcome[key] = (n + 1, amount + line.amount)
    totals = await tallies.partnership_totals(session, statement.partnership_id)
    participants = totals.participants.get(statement.contract_id, (0, 0))
    cap = await session.scalar(
        select(CapCounter)
        .where(CapCounter.contract_id == statement.contract_id, CapCounter.scope == "contract")
        .limit(1)
    )
    currency = statement.currency
    contract_cap = cap.cap if cap is not None else None
    exact = {
        "statement_id": str(statement.id),
        "contract_id": str(statement.contract_id),
        "payer_organisation_id": str(statement.payer_organisation_id),
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "currency": currency,
        "total": money.text(statement.total, currency),
        "outcomes": [
            {"outcome_code": code, "kind": kind, "lines": n, "amount": money.text(amount, currency)}
            for (code, kind), (n, amount) in sorted(by_outcome.items())
        ],
        "enrolled": participants[0],
        "exited": participants[1],
        "contract_cap": money.text(contract_cap, currency) if contract_cap is not None else None,
        "remaining_cap": (
            money.text(max(contract_cap - cap.paid, ZERO), currency)
            if cap is not None and contract_cap is not None
            else None
        ),
    }
    laid_out = small_cells.grid(layout, today())
    earned = small_cells.earned_shown(totals, laid_out, layout.threshold)
    return small_cells.summary(exact, participants, earned=earned, threshold=layout.threshold)


async def pay_statement(
    session: AsyncSession, principal: Principal, statement_id: UUID, *, expected_version: int | None
) -> PaymentStatement:
    """The payer marks its issued statement paid; a retry replays."""
    statement = await get_statement(session, principal, statement_id, for_update=True)
    if not access.may_pay_statement(principal, statement):
        raise errors.NotAPartner("only the statement's payer marks it paid")
    if statement.status == StatementStatus.PAID:
        return statement
    if statement.status != StatementStatus.ISSUED:
        raise errors.StatementNotIssued("issue the statement before marking it paid")
    check_version(statement.version, expected_version)
    statement.status, statement.paid_at, statement.paid_by = (
        StatementStatus.PAID.value,
        datetime.now(UTC),
        principal.subject,
    )
    statement.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        statement.partnership_id,
        type="statement.paid",
        subject=f"payment-statements/{statement.id}",
        data=_statement_event(statement),
    )
    return statement


# --- aggregates -----------------------------------------------------------------------------------------


async def partnership_aggregates(
    session: AsyncSession, principal: Principal, partnership_id: UUID, deps: Deps
) -> dict[str, Any]:
    """Counts and sums read from the partnership's tallies, so the cost does not grow with its history;
    under the small-cell rule for a reader without person-level rights (small_cells.py)."""
    if not access.may_read_partnership(principal, partnership_id):
        raise errors.NotAPartner("you are not a partner in this partnership")
    totals = await tallies.partnership_totals(session, partnership_id)
    contracts: dict[UUID, dict[str, Any]] = {
        contract_id: {
            "contract_id": contract_id,
            "currency": None,
            "earned": ZERO,
            "pending_claims": 0,
            "pending_value": ZERO,
            "contract_cap": None,
            "remaining_cap": None,
        }
        for contract_id in totals.contract_ids
    }
    for (contract_id, currency), amount in totals.earned.items():
        e = contracts[contract_id]
        e["currency"], e["earned"] = currency, amount
    for (contract_id, version_id, code), count in totals.pending.items():
        e = contracts[contract_id]
        version = await deps.contracts.version(version_id, token=deps.token)
        outcome = version.terms.outcome(code)
        e["pending_claims"] += count
        e["currency"] = e["currency"] or version.terms.currency
        if outcome is not None:
            e["pending_value"] += outcome.nominal_tariff() * count
    if contracts:
        counters = await session.execute(
            select(CapCounter).where(
                CapCounter.contract_id.in_(list(contracts)), CapCounter.scope == "contract"
            )
        )
        for counter in counters.scalars():
            e = contracts[counter.contract_id]
            e["currency"] = e["currency"] or counter.currency
            if counter.cap is not None:
                e["contract_cap"] = counter.cap
                e["remaining_cap"] = max(counter.cap - counter.paid, ZERO)
    for e in contracts.values():
        if e["contract_cap"] is None and e["earned"] == ZERO:
            # Nothing priced yet, so no counter knows the cap: read it from today's terms, if any.
            try:
                version = await deps.contracts.version_in_force(e["contract_id"], today(), token=deps.token)
            except (errors.NoVersionInForce, errors.ContractsUnavailable):
                continue
            e["currency"] = e["currency"] or version.terms.currency
            if version.terms.caps.contract_total is not None:
                e["contract_cap"] = e["remaining_cap"] = version.terms.caps.contract_total
    exact = {
        "partnership_id": partnership_id,
        "enrolled": totals.enrolled,
        "exited": totals.exited,
        "verified_outcomes": [
            {"outcome_code": code, "month": m, "verified": n, "value": v}
            for (code, m), (n, v) in totals.verified.items()
        ],
        "contracts": sorted(contracts.values(), key=lambda c: str(c["contract_id"])),
    }
    if access.reads_exact_counts(principal, partnership_id):
        return exact
    layout = await deps.contracts.small_cell_layout(partnership_id, token=deps.token)
    return small_cells.aggregates(exact, totals, layout, today())
