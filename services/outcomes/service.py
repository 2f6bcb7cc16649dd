"""Participants and outcome claims: enrolment, eligibility, exit, claims, verification and disputes.

Every read starts from `readable_participants` / `readable_claims`; every state change appends a ledger
event in the same transaction. Lock order, to stay deadlock-free: participant or claim row, then cap
counters (contract, period, participant), then the partnership's ledger head. Enrolment takes the ledger
head first: it serialises duplicate detection per partnership.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Select, and_, false, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from kit.problems import Forbidden, Unprocessable
from services.outcomes import errors, pricing
from services.outcomes.clients.contracts import ContractsClient, ContractVersion, Outcome
from services.outcomes.cpr import InvalidCpr, parse_cpr
from services.outcomes.ledger import append_event, lock_head
from services.outcomes.models import CapCounter, OutcomeClaim, Participant, PaymentLine
from services.outcomes.pseudonyms import KeyRing
from services.outcomes.schemas import ClaimCreate, ParticipantCreate, ParticipantExit
from services.outcomes.states import Action, ClaimStatus, InvalidTransition, transition

LIVE_STATUSES = (ClaimStatus.CLAIMED.value, ClaimStatus.VERIFIED.value, ClaimStatus.DISPUTED.value)


@dataclass(frozen=True, slots=True)
class Deps:
    """What the rules need beyond the session and the caller: the registry, the caller's token, keys."""

    contracts: ContractsClient
    token: str
    keys: KeyRing
    max_evidence_bytes: int = 5 * 1024 * 1024


def today() -> date:
    return datetime.now(UTC).date()


# --- row visibility ------------------------------------------------------------------------------------


def _participant_visibility(principal: Principal) -> Any:
    """Providers and evaluators see their partnerships' participants; an outcome payer sees those resident
    in its municipality; everyone else (investors, advisers, observers, operators) sees none."""
    conditions = []
    for partnership_id, roles in principal.memberships.items():
        if roles & {"provider", "evaluator"}:
            conditions.append(Participant.partnership_id == partnership_id)
        elif "outcome_payer" in roles and principal.municipality_code:
            conditions.append(
                and_(
                    Participant.partnership_id == partnership_id,
                    Participant.municipality_code == principal.municipality_code,
                )
            )
    return or_(*conditions) if conditions else false()


def readable_participants(principal: Principal) -> Select[Participant]:
    return select(Participant).where(_participant_visibility(principal))


def readable_claims(principal: Principal) -> Select[OutcomeClaim]:
    """A claim is visible exactly when its participant is."""
    return (
        select(OutcomeClaim)
        .join(Participant, Participant.id == OutcomeClaim.participant_id)
        .where(_participant_visibility(principal))
    )


def sees_municipal_reference(principal: Principal, participant: Participant) -> bool:
    return (
        "outcome_payer" in principal.roles_in(participant.partnership_id)
        and principal.municipality_code == participant.municipality_code
    )


def municipal_reference(principal: Principal, participant: Participant, keys: KeyRing) -> str | None:
    if participant.municipal_reference is None or not sees_municipal_reference(principal, participant):
        return None
    assert participant.municipal_reference_key_version is not None
    return keys.decrypt_reference(
        participant.municipal_reference,
        version=participant.municipal_reference_key_version,
        partnership_id=participant.partnership_id,
        participant_id=participant.id,
        municipality_code=participant.municipality_code,
    )


def _check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise errors.VersionMismatch(f"expected version {expected}, the resource is at version {current}")


# --- participants ------------------------------------------------------------------------------------------


async def get_participant(
    session: AsyncSession, principal: Principal, participant_id: UUID, *, for_update: bool = False
) -> Participant:
    query = readable_participants(principal).where(Participant.id == participant_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    participant = (await session.execute(query)).scalar_one_or_none()
    if participant is None:
        raise errors.ParticipantNotFound()
    return participant


async def list_participants(
    session: AsyncSession,
    principal: Principal,
    *,
    partnership_id: UUID | None,
    ids: list[UUID] | None,
    after: UUID | None,
    limit: int,
) -> list[Participant]:
    query = readable_participants(principal)
    if partnership_id is not None:
        query = query.where(Participant.partnership_id == partnership_id)
    if ids is not None:
        query = query.where(Participant.id.in_(ids))
    if after is not None:
        query = query.where(Participant.id > after)
    return list((await session.execute(query.order_by(Participant.id).limit(limit))).scalars())


async def enrol_participant(
    session: AsyncSession, principal: Principal, body: ParticipantCreate, deps: Deps
) -> Participant:
    """Enrol a person by CPR number, keeping only a keyed pseudonym; the same person twice is refused."""
    roles = principal.roles_in(body.partnership_id)
    own_resident = "outcome_payer" in roles and principal.municipality_code == body.municipality_code
    if "provider" not in roles and not own_resident:
        raise errors.NotAPartner(
            "only the partnership's provider, or the outcome payer for its own residents, may enrol"
        )
    try:
        cpr = parse_cpr(body.cpr.get_secret_value(), today=today())
    except InvalidCpr as exc:
        raise errors.InvalidCpr.field("body.cpr", str(exc)) from None
    if body.enrolment_date > today():
        raise Unprocessable.field("body.enrolment_date", "must not be in the future")
    version = await deps.contracts.version_in_force(body.contract_id, body.enrolment_date, token=deps.token)
    if version.partnership_id != body.partnership_id or version.contract_id != body.contract_id:
        raise errors.ContractMismatch.field("body.contract_id", "is not a contract of this partnership")
    terms = version.terms
    if not pricing.supported(terms.currency):
        raise errors.CurrencyNotSupported(f"amounts in {terms.currency} need more than two decimals")
    if terms.payer_split.method == "residence" and body.municipality_code not in {
        m.municipality_code for m in terms.payer_split.municipalities
    }:
        raise errors.MunicipalityNotPaying.field("body.municipality_code", "is not a paying municipality")

    await lock_head(session, body.partnership_id)  # serialises enrolment per partnership
    candidates = deps.keys.all_pseudonyms(cpr.digits, body.partnership_id)
    duplicate = await session.scalar(
        select(Participant.id).where(
            Participant.partnership_id == body.partnership_id,
            tuple_(Participant.key_version, Participant.pseudonym).in_(
                [(p.key_version, p.value) for p in candidates]
            ),
        )
    )
    if duplicate is not None:
        raise errors.DuplicateParticipant("this person is already enrolled in the partnership")
    if terms.max_participants is not None:
        enrolled = await session.scalar(
            select(func.count()).select_from(Participant).where(Participant.contract_id == body.contract_id)
        )
        if (enrolled or 0) >= terms.max_participants:
            raise errors.ContractFull(f"the contract allows {terms.max_participants} participants")

    pseudonym = candidates[0]
    participant = Participant(
        id=uuid4(),
        partnership_id=body.partnership_id,
        contract_id=body.contract_id,
        pseudonym=pseudonym.value,
        key_version=pseudonym.key_version,
        municipality_code=body.municipality_code,
        enrolment_date=body.enrolment_date,
        cohort=body.cohort,
        enrolled_by_organisation_id=principal.organisation_id,
        version=1,
    )
    if body.municipal_reference is not None:
        key_version, blob = deps.keys.encrypt_reference(
            body.municipal_reference,
            partnership_id=body.partnership_id,
            participant_id=participant.id,
            municipality_code=body.municipality_code,
        )
        participant.municipal_reference, participant.municipal_reference_key_version = blob, key_version
    session.add(participant)
    await session.flush()
    await append_event(
        session,
        principal,
        body.partnership_id,
        type="participant.enrolled",
        subject=f"participants/{participant.id}",
        data={
            "participant_id": str(participant.id),
            "contract_id": str(body.contract_id),
            "contract_version_id": str(version.id),
            "enrolment_date": body.enrolment_date.isoformat(),
            "cohort": body.cohort,
            "key_version": pseudonym.key_version,
        },
    )
    return participant


async def confirm_eligibility(
    session: AsyncSession, principal: Principal, participant_id: UUID, *, expected_version: int | None
) -> Participant:
    """The outcome payer of the participant's municipality confirms eligibility (once; retries replay)."""
    participant = await get_participant(session, principal, participant_id, for_update=True)
    if not sees_municipal_reference(principal, participant):
        raise errors.NotAPartner(
            "only the outcome payer of the participant's municipality confirms eligibility"
        )
    if participant.eligibility_confirmed_at is not None:
        return participant
    _check_version(participant.version, expected_version)
    participant.eligibility_confirmed_by_organisation_id = principal.organisation_id
    participant.eligibility_confirmed_by = principal.subject
    participant.eligibility_confirmed_at = datetime.now(UTC)
    participant.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        participant.partnership_id,
        type="participant.eligibility_confirmed",
        subject=f"participants/{participant.id}",
        data={"participant_id": str(participant.id)},
    )
    return participant


async def exit_participant(
    session: AsyncSession,
    principal: Principal,
    participant_id: UUID,
    body: ParticipantExit,
    *,
    expected_version: int | None,
) -> Participant:
    """Record the participant's exit; a retry with the same date and reason replays."""
    participant = await get_participant(session, principal, participant_id, for_update=True)
    roles = principal.roles_in(participant.partnership_id)
    if "provider" not in roles and not sees_municipal_reference(principal, participant):
        raise errors.NotAPartner("only the provider or the participant's municipality records an exit")
    if participant.exit_date is not None:
        if (participant.exit_date, participant.exit_reason) == (body.exit_date, body.reason):
            return participant
        raise errors.ParticipantAlreadyExited(
            f"the participant exited on {participant.exit_date.isoformat()}"
        )
    _check_version(participant.version, expected_version)
    if body.exit_date < participant.enrolment_date:
        raise Unprocessable.field("body.exit_date", "must not precede the enrolment date")
    if body.exit_date > today():
        raise Unprocessable.field("body.exit_date", "must not be in the future")
    latest_claim = await session.scalar(
        select(func.max(OutcomeClaim.achievement_date)).where(
            OutcomeClaim.participant_id == participant.id, OutcomeClaim.status.in_(LIVE_STATUSES)
        )
    )
    if latest_claim is not None and body.exit_date < latest_claim:
        raise Unprocessable.field(
            "body.exit_date", f"precedes a claimed outcome on {latest_claim.isoformat()}"
        )
    participant.exit_date, participant.exit_reason = body.exit_date, body.reason
    participant.version += 1
    await session.flush()
    await append_event(
        session,
        principal,
        participant.partnership_id,
        type="participant.exited",
        subject=f"participants/{participant.id}",
        data={
            "participant_id": str(participant.id),
            "exit_date": body.exit_date.isoformat(),
            "reason": body.reason,
        },
    )
    return participant


# --- claims ----------------------------------------------------------------------------------------------


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
    """The uploaded document, for the provider and the outcome payer only (never evaluators)."""
    claim = await get_claim(session, principal, claim_id)
    if not principal.roles_in(claim.partnership_id) & {"provider", "outcome_payer"}:
        raise Forbidden("evidence documents are for the provider and the outcome payer")
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


async def split_lines(session: AsyncSession, claim_ids: list[UUID]) -> dict[UUID, list[PaymentLine]]:
    rows = await session.execute(
        select(PaymentLine).where(PaymentLine.claim_id.in_(claim_ids)).order_by(PaymentLine.id)
    )
    by_claim: dict[UUID, list[PaymentLine]] = {}
    for line in rows.scalars():
        by_claim.setdefault(line.claim_id, []).append(line)
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


async def _verified_dates(session: AsyncSession, participant_id: UUID) -> dict[str, date]:
    """The earliest verified achievement date per outcome code for the participant."""
    rows = await session.execute(
        select(OutcomeClaim.outcome_code, func.min(OutcomeClaim.achievement_date))
        .where(
            OutcomeClaim.participant_id == participant_id, OutcomeClaim.status == ClaimStatus.VERIFIED.value
        )
        .group_by(OutcomeClaim.outcome_code)
    )
    return {code: day for code, day in rows.tuples()}


async def _live_claims(
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


def _check_window(outcome: Outcome, achieved: date, enrolment: date, verified: dict[str, date]) -> None:
    for prerequisite in outcome.prerequisites:
        done = verified.get(prerequisite)
        if done is None or done > achieved:
            raise errors.PrerequisiteNotVerified.field(
                "body.outcome_code", f"needs a verified `{prerequisite}` achieved on or before this date"
            )
    window = outcome.window
    if window is None:
        return
    if window.anchor == "outcome":
        anchor = verified.get(window.anchor_outcome or "")
        if anchor is None:
            raise errors.PrerequisiteNotVerified.field(
                "body.outcome_code", f"the window is anchored on a verified `{window.anchor_outcome}`"
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
    participant = await get_participant(session, principal, body.participant_id, for_update=True)
    if "provider" not in principal.roles_in(participant.partnership_id):
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
    version = await deps.contracts.version_in_force(participant.contract_id, achieved, token=deps.token)
    if version.contract_id != participant.contract_id:
        raise errors.ContractMismatch.field(
            "body.participant_id", "the registry answered for another contract"
        )
    outcome = version.terms.outcome(body.outcome_code)
    if outcome is None:
        raise errors.UnknownOutcome.field(
            "body.outcome_code", f"is not an outcome of contract version {version.number}"
        )
    _check_window(
        outcome, achieved, participant.enrolment_date, await _verified_dates(session, participant.id)
    )
    if outcome.max_per_participant is not None and (
        await _live_claims(session, participant.id, outcome.code, excluding=None)
        >= outcome.max_per_participant
    ):
        raise errors.PerParticipantMaximum.field(
            "body.outcome_code", f"at most {outcome.max_per_participant} per participant"
        )
    claim = OutcomeClaim(
        id=uuid4(),
        partnership_id=participant.partnership_id,
        contract_id=participant.contract_id,
        participant_id=participant.id,
        outcome_code=outcome.code,
        achievement_date=achieved,
        evidence_reference=body.evidence_reference,
        evidence_document=document,
        evidence_media_type=body.evidence_media_type if document is not None else None,
        evidence_sha256=hashlib.sha256(document).hexdigest() if document is not None else None,
        claimant_organisation_id=principal.organisation_id,
        claimed_by=principal.subject,
        claimed_contract_version_id=version.id,
        status=ClaimStatus.CLAIMED.value,
        disputed=False,
        version=1,
    )
    session.add(claim)
    await session.flush()
    await append_event(
        session,
        principal,
        claim.partnership_id,
        type="claim.submitted",
        subject=f"outcome-claims/{claim.id}",
        data={
            "claim_id": str(claim.id),
            "participant_id": str(participant.id),
            "contract_id": str(claim.contract_id),
            "contract_version_id": str(version.id),
            "outcome_code": claim.outcome_code,
            "achievement_date": achieved.isoformat(),
            "evidence_sha256": claim.evidence_sha256,
        },
    )
    return claim


def payment_period_key(day: date, payment_period: str) -> str:
    """The payment period a day falls in, as the per-period cap counts it."""
    if payment_period == "monthly":
        return f"{day.year}-{day.month:02d}"
    if payment_period in ("half_yearly", "half-yearly", "semiannual"):
        return f"{day.year}-H{1 if day.month <= 6 else 2}"
    if payment_period in ("annual", "annually", "yearly"):
        return f"{day.year}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


async def _lock_counter(
    session: AsyncSession, contract_id: UUID, scope: str, key: str, currency: str
) -> CapCounter:
    await session.execute(
        insert(CapCounter)
        .values(contract_id=contract_id, scope=scope, key=key, paid=Decimal(0), currency=currency)
        .on_conflict_do_nothing()
    )
    query = (
        select(CapCounter)
        .where(CapCounter.contract_id == contract_id, CapCounter.scope == scope, CapCounter.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


async def _price(
    session: AsyncSession,
    claim: OutcomeClaim,
    participant: Participant,
    version: ContractVersion,
    outcome: Outcome,
) -> None:
    """Price a claim being verified: tariff, caps under row locks, payer split into payment lines."""
    terms, priced_on = version.terms, today()
    currency = terms.currency
    if not pricing.supported(currency):
        raise errors.CurrencyNotSupported(f"amounts in {currency} need more than two decimals")
    period = payment_period_key(priced_on, terms.payment_period)
    # Always contract, then period, then participant: one lock order for every verification.
    contract_counter = await _lock_counter(session, claim.contract_id, "contract", "", currency)
    period_counter = await _lock_counter(session, claim.contract_id, "period", period, currency)
    participant_counter = await _lock_counter(
        session, claim.contract_id, "participant", str(participant.id), currency
    )
    caps = pricing.Caps(
        per_participant=terms.caps.per_participant,
        contract_total=terms.caps.contract_total,
        per_period=terms.caps.per_period,
    )
    usage = pricing.CapUsage(
        participant=participant_counter.paid, contract=contract_counter.paid, period=period_counter.paid
    )
    tariff = pricing.quantise(outcome.tariff, currency)
    price = pricing.price_claim(tariff, caps, usage)
    for counter, cap in (
        (contract_counter, caps.contract_total),
        (period_counter, caps.per_period),
        (participant_counter, caps.per_participant),
    ):
        counter.paid += price.payable
        counter.cap = cap

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
    for line, tariff_line in zip(amounts, tariffs, strict=True):
        session.add(
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
        )
    claim.priced_contract_version_id = version.id
    claim.currency = currency
    claim.tariff, claim.payable, claim.cut = price.tariff, price.payable, price.cut
    claim.cut_reasons = [{"cap": c.cap, "amount": f"{c.amount:.2f}"} for c in price.cuts]
    claim.priced_on, claim.payment_period = priced_on, period


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
    claim = await get_claim(session, principal, claim_id, for_update=True)
    if resolution:
        action = Action.RESOLVE_VERIFY if decision == "verified" else Action.RESOLVE_REJECT
    else:
        action = Action.VERIFY if decision == "verified" else Action.REJECT
    try:
        after = transition(ClaimStatus(claim.status), action, disputed=claim.disputed)
    except InvalidTransition as exc:
        raise errors.InvalidClaimTransition(exc.reason, status=claim.status) from None
    if after is None:
        return claim
    _check_version(claim.version, expected_version)
    if claim.claimant_organisation_id == principal.organisation_id:
        raise errors.OwnClaimVerification("the claimant's organisation cannot decide its own claim")
    version = await deps.contracts.version_in_force(
        claim.contract_id, claim.achievement_date, token=deps.token
    )
    outcome = version.terms.outcome(claim.outcome_code)
    if outcome is None:
        raise errors.UnknownOutcome(f"the version in force no longer has outcome `{claim.outcome_code}`")
    roles = principal.roles_in(claim.partnership_id)
    allowed = {"outcome_payer"} if resolution else set(outcome.verifier_roles)
    if not roles & allowed:
        raise errors.NotAllowedToVerify(
            f"this needs one of the roles: {', '.join(sorted(allowed)) or 'none'}"
        )
    if after is ClaimStatus.REJECTED and reason is None:
        raise Unprocessable.field("body.reason", "a rejection needs a reason")

    participant = await session.get_one(Participant, claim.participant_id)
    if after is ClaimStatus.VERIFIED:
        await _price(session, claim, participant, version, outcome)
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
        lines = (await split_lines(session, [claim.id])).get(claim.id, [])
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
    if claim.claimant_organisation_id != principal.organisation_id or "provider" not in principal.roles_in(
        claim.partnership_id
    ):
        raise errors.NotAPartner("only the provider that made the claim may dispute its rejection")
    try:
        after = transition(ClaimStatus(claim.status), Action.DISPUTE, disputed=claim.disputed)
    except InvalidTransition as exc:
        raise errors.InvalidClaimTransition(exc.reason, status=claim.status) from None
    if after is None:
        return claim
    _check_version(claim.version, expected_version)
    # The rejected claim no longer held its slot; another claim may have taken it since.
    participant = await session.get_one(Participant, claim.participant_id, with_for_update=True)
    live = await _live_claims(session, participant.id, claim.outcome_code, excluding=claim.id)
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
