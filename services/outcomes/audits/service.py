"""The audit's rules: open (fix the population, draw the sample), record findings, dispute one, close
(settle through the pure engine and book its lines for the payer's next statement).

The population is the payer's paid claims of the contract for the period: claims with lines on the
payer's statements issued (or paid) for periods wholly inside it, each with what those lines paid, more
than zero, less any claim already clawed back. Audits of one contract and payer never overlap in period,
so no line is audited twice, and a claim is clawed back at most once (a unique index holds it).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Unprocessable
from kit.versions import check_version
from services.outcomes import access, errors
from services.outcomes.audits import errors as audit_errors
from services.outcomes.audits.models import AuditClaim, PaymentAudit
from services.outcomes.audits.schemas import AuditCreate, FindingDisputeCreate, FindingIn
from services.outcomes.clients.contracts import ContractVersion
from services.outcomes.collaborators import Deps, today
from services.outcomes.ledger.service import append_event
from services.outcomes.models import OutcomeClaim, PaymentLine, PaymentStatement
from services.outcomes.pricing import audits as engine
from services.outcomes.pricing import money
from services.outcomes.states import StatementStatus

PAID_STATUSES = (StatementStatus.ISSUED.value, StatementStatus.PAID.value)


async def get_audit(
    session: AsyncSession, principal: Principal, audit_id: UUID, *, for_update: bool = False
) -> PaymentAudit:
    query = access.readable_audits(principal).where(PaymentAudit.id == audit_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    audit = (await session.execute(query)).scalar_one_or_none()
    if audit is None:
        raise audit_errors.AuditNotFound()
    return audit


async def list_audits(
    session: AsyncSession, principal: Principal, *, contract_id: UUID | None, after: UUID | None, limit: int
) -> list[PaymentAudit]:
    query = access.readable_audits(principal)
    if contract_id is not None:
        query = query.where(PaymentAudit.contract_id == contract_id)
    if after is not None:
        query = query.where(PaymentAudit.id > after)
    return list((await session.execute(query.order_by(PaymentAudit.id).limit(limit))).scalars())


async def audit_claims(session: AsyncSession, audit_id: UUID) -> list[AuditClaim]:
    """The population in draw order: the sample first."""
    rows = await session.execute(
        select(AuditClaim)
        .where(AuditClaim.audit_id == audit_id)
        .order_by(AuditClaim.rank, AuditClaim.claim_id)
    )
    return list(rows.scalars())


async def _version(deps: Deps, body: AuditCreate) -> ContractVersion:
    try:
        return await deps.contracts.version_in_force(body.contract_id, body.period_end, token=deps.token)
    except errors.NoVersionInForce:
        return await deps.contracts.version_in_force(body.contract_id, body.period_start, token=deps.token)


async def _population(session: AsyncSession, body: AuditCreate) -> list[engine.Paid]:
    clawed = select(PaymentLine.claim_id).where(
        PaymentLine.audit_id.is_not(None),
        PaymentLine.claim_id.is_not(None),
        PaymentLine.payer_organisation_id == body.payer_organisation_id,
    )
    paid = func.sum(PaymentLine.amount)
    rows = await session.execute(
        select(PaymentLine.claim_id, paid)
        .join(PaymentStatement, PaymentStatement.id == PaymentLine.statement_id)
        .where(
            PaymentStatement.contract_id == body.contract_id,
            PaymentStatement.payer_organisation_id == body.payer_organisation_id,
            PaymentStatement.status.in_(PAID_STATUSES),
            PaymentStatement.period_start >= body.period_start,
            PaymentStatement.period_end <= body.period_end,
            PaymentLine.claim_id.is_not(None),
            PaymentLine.audit_id.is_(None),
            PaymentLine.claim_id.not_in(clawed),
        )
        .group_by(PaymentLine.claim_id)
        .having(paid > 0)
        .order_by(PaymentLine.claim_id)
    )
    # Selected by claim: never None.
    return [engine.Paid(cast(UUID, claim_id), Decimal(amount)) for claim_id, amount in rows.all()]


def _fresh_seed() -> str:
    # Hex in groups of eight: random, and never ten digits in a row (nothing CPR-shaped is ever stored).
    raw = secrets.token_hex(16)
    return "-".join(raw[i : i + 8] for i in range(0, len(raw), 8))


async def open_audit(
    session: AsyncSession, principal: Principal, body: AuditCreate, deps: Deps
) -> PaymentAudit:
    """Open an audit of the payer's paid claims for a period and draw its sample from the seed."""
    if body.period_end < body.period_start:
        raise Unprocessable.field("body.period_end", "must not precede period_start")
    version = await _version(deps, body)
    if not access.may_audit(principal, version.partnership_id, body.payer_organisation_id):
        raise errors.NotAPartner("only the payer itself audits the claims it paid")
    rule = next(
        (r for r in version.terms.audits if r.payer_organisation_id == body.payer_organisation_id), None
    )
    if rule is None:
        raise Unprocessable.field(
            "body.payer_organisation_id", "the contract's terms give this payer no audit"
        )
    # One audit of a contract and payer at a time decides what overlaps (a transaction-scoped lock).
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"audit:{body.contract_id}", 0)))
    )
    overlapping = await session.scalar(
        select(PaymentAudit.id).where(
            PaymentAudit.contract_id == body.contract_id,
            PaymentAudit.payer_organisation_id == body.payer_organisation_id,
            PaymentAudit.period_start <= body.period_end,
            PaymentAudit.period_end >= body.period_start,
        )
    )
    if overlapping is not None:
        raise audit_errors.AuditOverlaps(f"audit {overlapping} covers part of this period")
    population = await _population(session, body)
    if not population:
        raise Unprocessable.field(
            "body.period_start", "the payer has no paid claims on statements issued for this period"
        )
    seed = body.seed or _fresh_seed()
    size = engine.sample_size(rule.engine(), len(population))
    sample = set(engine.draw(seed, [p.claim_id for p in population], size))
    audit = PaymentAudit(
        partnership_id=version.partnership_id,
        contract_id=body.contract_id,
        contract_version_id=version.id,
        payer_organisation_id=body.payer_organisation_id,
        period_start=body.period_start,
        period_end=body.period_end,
        currency=version.terms.currency,
        seed=seed,
        rule=rule.model_dump(mode="json"),
        population_claims=len(population),
        population_value=sum((p.amount for p in population), Decimal(0)),
        sample_size=size,
        opened_by=principal.subject,
    )
    session.add(audit)
    await session.flush()
    session.add_all(
        AuditClaim(
            audit_id=audit.id,
            claim_id=p.claim_id,
            partnership_id=audit.partnership_id,
            amount=p.amount,
            rank=engine.rank(seed, p.claim_id),
            sampled=p.claim_id in sample,
        )
        for p in population
    )
    await session.flush()
    await session.refresh(audit)
    await append_event(
        session,
        principal,
        audit.partnership_id,
        type="audit.opened",
        subject=f"payment-audits/{audit.id}",
        data=_audit_event(audit),
    )
    return audit


def _audit_event(audit: PaymentAudit) -> dict[str, Any]:
    """An audit as the ledger records it: counts, values and the seed, no claim (no person)."""
    return {
        "audit_id": str(audit.id),
        "contract_id": str(audit.contract_id),
        "contract_version_id": str(audit.contract_version_id),
        "payer_organisation_id": str(audit.payer_organisation_id),
        "period_start": audit.period_start.isoformat(),
        "period_end": audit.period_end.isoformat(),
        "currency": audit.currency,
        "seed": audit.seed,
        "rule": audit.rule,
        "population_claims": audit.population_claims,
        "population_value": money.text(audit.population_value, audit.currency),
        "sample_size": audit.sample_size,
    }


async def _sampled(session: AsyncSession, audit: PaymentAudit) -> dict[UUID, AuditClaim]:
    rows = await session.execute(
        select(AuditClaim).where(AuditClaim.audit_id == audit.id, AuditClaim.sampled).with_for_update()
    )
    return {c.claim_id: c for c in rows.scalars()}


async def record_findings(
    session: AsyncSession,
    principal: Principal,
    audit_id: UUID,
    findings: Sequence[FindingIn],
    *,
    expected_version: int | None,
) -> PaymentAudit:
    """The payer's findings on sampled claims; a finding on a disputed one resolves the dispute (final)."""
    audit = await get_audit(session, principal, audit_id, for_update=True)
    if not access.may_audit(principal, audit.partnership_id, audit.payer_organisation_id):
        raise errors.NotAPartner("only the auditing payer records findings")
    if audit.status != "open":
        raise audit_errors.AuditClosed()
    sampled = await _sampled(session, audit)
    changes: list[tuple[AuditClaim, FindingIn]] = []
    for i, finding in enumerate(findings):
        at = f"body.findings.{i}"
        row = sampled.get(finding.claim_id)
        if row is None:
            raise Unprocessable.field(f"{at}.claim_id", "is not a claim of this audit's sample")
        if finding.finding == "invalid" and finding.reason is None:
            raise Unprocessable.field(f"{at}.reason", "an invalid finding gives its reason")
        reason = finding.reason if finding.finding == "invalid" else None
        if (row.finding, row.reason) == (finding.finding, reason):
            continue  # a replay of what is recorded
        if row.resolved:
            raise audit_errors.FindingFinal("the dispute on this finding was resolved")
        changes.append((row, finding))
    if not changes:
        return audit
    check_version(audit.version, expected_version)
    for row, finding in changes:
        row.finding = finding.finding
        row.reason = finding.reason if finding.finding == "invalid" else None
        row.recorded_by = principal.subject
        row.resolved = row.disputed_at is not None
    audit.version += 1
    await session.flush()
    return audit


async def dispute_finding(
    session: AsyncSession,
    principal: Principal,
    audit_id: UUID,
    body: FindingDisputeCreate,
    *,
    expected_version: int | None,
) -> PaymentAudit:
    """The provider disputes an invalid finding, once, while the audit is open; the payer's next finding on
    the claim decides it."""
    audit = await get_audit(session, principal, audit_id, for_update=True)
    if not access.may_dispute_finding(principal, audit.partnership_id):
        raise errors.NotAPartner("the provider disputes an audit's finding")
    if audit.status != "open":
        raise audit_errors.AuditClosed()
    row = (await _sampled(session, audit)).get(body.claim_id)
    if row is None:
        raise Unprocessable.field("body.claim_id", "is not a claim of this audit's sample")
    if row.disputed_at is not None and row.dispute_reason == body.reason:
        return audit  # a replay
    if row.finding != "invalid" or row.disputed_at is not None:
        raise audit_errors.FindingFinal("only an invalid finding is disputed, and only once")
    check_version(audit.version, expected_version)
    row.disputed_at, row.dispute_reason = datetime.now(UTC), body.reason
    audit.version += 1
    await session.flush()
    return audit


async def close_audit(
    session: AsyncSession, principal: Principal, audit_id: UUID, *, expected_version: int | None
) -> PaymentAudit:
    """Settle the findings (pricing/audits.py) and book the clawbacks and any extrapolated adjustment as
    negative lines for the payer's next statement; a retry replays."""
    audit = await get_audit(session, principal, audit_id, for_update=True)
    if not access.may_audit(principal, audit.partnership_id, audit.payer_organisation_id):
        raise errors.NotAPartner("only the auditing payer closes its audit")
    if audit.status == "closed":
        return audit
    check_version(audit.version, expected_version)
    population = await audit_claims(session, audit.id)
    sample = [c for c in population if c.sampled]
    pending = sum(1 for c in sample if c.finding is None or (c.disputed_at is not None and not c.resolved))
    if pending:
        raise audit_errors.AuditIncomplete(f"{pending} sampled claims have no finding or an open dispute")
    rule = engine.Rule(
        audit.rule.get("sample_size"),
        _decimal(audit.rule.get("sample_percent")),
        audit.rule.get("extrapolation", "none"),
        _decimal(audit.rule.get("threshold_percent")),
        _decimal(audit.rule.get("extrapolation_cap")),
    )
    settlement = engine.settle(
        rule,
        [engine.Paid(c.claim_id, c.amount) for c in population],
        [c.claim_id for c in sample],
        [c.claim_id for c in sample if c.finding == "invalid"],
        audit.currency,
    )
    booked_on = today()
    claims = {
        c.id: c
        for c in await session.scalars(
            select(OutcomeClaim).where(OutcomeClaim.id.in_([x.claim_id for x in settlement.clawbacks]))
        )
    }
    reasons = {c.claim_id: c.reason for c in sample}
    for clawback in settlement.clawbacks:
        claim = claims[clawback.claim_id]
        line = _line(audit, -clawback.amount, booked_on, claim_id=claim.id, outcome_code=claim.outcome_code)
        session.add(line)
        await session.flush()
        await append_event(
            session,
            principal,
            audit.partnership_id,
            type="claim.clawed_back",
            subject=f"outcome-claims/{claim.id}",
            participant_id=claim.participant_id,
            data={
                "claim_id": str(claim.id),
                "audit_id": str(audit.id),
                "payment_line_id": str(line.id),
                "contract_id": str(audit.contract_id),
                "payer_organisation_id": str(audit.payer_organisation_id),
                "currency": audit.currency,
                "amount": money.text(-clawback.amount, audit.currency),
                "reason": reasons[claim.id],
            },
        )
    extrapolation_line: UUID | None = None
    if settlement.extrapolated > 0:
        line = _line(audit, -settlement.extrapolated, booked_on, claim_id=None, outcome_code=None)
        session.add(line)
        await session.flush()
        extrapolation_line = line.id
    audit.status, audit.closed_at, audit.closed_by = "closed", datetime.now(UTC), principal.subject
    audit.clawed_back = sum((c.amount for c in settlement.clawbacks), Decimal(0))
    audit.extrapolated = settlement.extrapolated
    audit.working = settlement.working
    audit.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        audit.partnership_id,
        type="audit.closed",
        subject=f"payment-audits/{audit.id}",
        data={
            **_audit_event(audit),
            "clawback_lines": len(settlement.clawbacks),
            "clawed_back": money.text(audit.clawed_back, audit.currency),
            "extrapolated": money.text(audit.extrapolated, audit.currency),
            "extrapolation_line_id": None if extrapolation_line is None else str(extrapolation_line),
            "booked_on": booked_on.isoformat(),
            "working": settlement.working,
        },
    )
    return audit


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _line(
    audit: PaymentAudit, amount: Decimal, on: Any, *, claim_id: UUID | None, outcome_code: str | None
) -> PaymentLine:
    # Booked today and unassigned: the payer's next statement drafted for a period reaching today takes it.
    return PaymentLine(
        claim_id=claim_id,
        contract_id=audit.contract_id,
        payer_organisation_id=audit.payer_organisation_id,
        outcome_code=outcome_code,
        achievement_date=on,
        priced_on=on,
        currency=audit.currency,
        tariff_share=amount,
        amount=amount,
        audit_id=audit.id,
    )


async def audit_totals_of(
    session: AsyncSession, statement_ids: list[UUID]
) -> dict[UUID, list[dict[str, Any]]]:
    """Each statement's audit lines summed per audit: no claim named, so every reader of the statement
    sees them beside its totals by outcome."""
    is_clawback = PaymentLine.claim_id.is_not(None)
    rows = await session.execute(
        select(
            PaymentLine.statement_id,
            PaymentLine.audit_id,
            func.count().filter(is_clawback),
            func.coalesce(func.sum(PaymentLine.amount).filter(is_clawback), 0),
            func.coalesce(func.sum(PaymentLine.amount).filter(~is_clawback), 0),
        )
        .where(PaymentLine.statement_id.in_(statement_ids), PaymentLine.audit_id.is_not(None))
        .group_by(PaymentLine.statement_id, PaymentLine.audit_id)
        .order_by(PaymentLine.statement_id, PaymentLine.audit_id)
    )
    found: dict[UUID, list[dict[str, Any]]] = {}
    for statement_id, audit_id, clawback_lines, clawed_back, extrapolated in rows.all():
        found.setdefault(cast(UUID, statement_id), []).append(
            {
                "audit_id": audit_id,
                "clawback_lines": clawback_lines,
                "clawed_back": Decimal(clawed_back),
                "extrapolated": Decimal(extrapolated),
                "amount": Decimal(clawed_back) + Decimal(extrapolated),
            }
        )
    return found
