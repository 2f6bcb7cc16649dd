"""Participants: enrolment, eligibility and exit.

Every read starts from `access.readable_participants`; every state change appends a ledger event in the
same transaction. Lock order across the service, to stay deadlock-free: participant or claim row, then
cap counters (contract, outcome, payers, period, participant), then the partnership's ledger head (a re-
pricing takes the contract's counter, then its verified claims, which no other writer locks). Enrolment
takes the ledger head first: it serialises duplicate detection per partnership.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import BigInteger, Integer, String, Uuid, and_, cast, func, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import CompoundSelect, Select

from kit.auth import Principal
from kit.problems import Problem, Unprocessable
from kit.versions import check_version
from services.outcomes import access, errors, pricing
from services.outcomes.access import readable_participants
from services.outcomes.clients.contracts import ContractVersion
from services.outcomes.collaborators import Deps, today
from services.outcomes.cpr import Cpr, InvalidCpr, parse_cpr
from services.outcomes.ledger.service import append_event, lock_head
from services.outcomes.models import OutcomeClaim, Participant
from services.outcomes.pseudonyms import PartnershipKeys, Pseudonym
from services.outcomes.schemas import ParticipantCreate, ParticipantExit
from services.outcomes.states import LIVE_STATUSES


def municipal_reference(principal: Principal, participant: Participant, keys: PartnershipKeys) -> str | None:
    """The decrypted reference, for the municipality of residence only."""
    if participant.municipal_reference is None or not access.is_municipality_of_residence(
        principal, participant
    ):
        return None
    assert participant.municipal_reference_key_version is not None
    return keys.decrypt_reference(
        participant.municipal_reference,
        version=participant.municipal_reference_key_version,
        partnership_id=participant.partnership_id,
        participant_id=participant.id,
        municipality_code=participant.municipality_code,
    )


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


def check_enrolment(principal: Principal, body: ParticipantCreate) -> Cpr:
    """The enrolment rules that need neither the registry nor the database; the parsed CPR number."""
    if not access.may_enrol(principal, body.partnership_id, body.municipality_code):
        raise errors.NotAPartner(
            "only the partnership's provider, or the outcome payer for its own residents, may enrol"
        )
    try:
        cpr = parse_cpr(body.cpr.get_secret_value(), today=today())
    except InvalidCpr as exc:
        raise errors.InvalidCpr.field("body.cpr", str(exc)) from None
    if body.enrolment_date > today():
        raise Unprocessable.field("body.enrolment_date", "must not be in the future")
    return cpr


def check_enrolment_terms(body: ParticipantCreate, version: ContractVersion) -> None:
    """The enrolment rules of the contract version in force on the enrolment date."""
    if version.partnership_id != body.partnership_id or version.contract_id != body.contract_id:
        raise errors.ContractMismatch.field("body.contract_id", "is not a contract of this partnership")
    terms = version.terms
    if not pricing.supported(terms.currency):
        raise errors.CurrencyNotSupported(f"amounts in {terms.currency} need more than three decimals")
    split = terms.payer_split.rest if terms.payer_split.method == "mixed" else terms.payer_split
    if (
        split is not None
        and split.method == "residence"
        and body.municipality_code not in {m.municipality_code for m in split.municipalities}
    ):
        raise errors.MunicipalityNotPaying.field("body.municipality_code", "is not a paying municipality")
    segments = terms.segments
    if segments is None and body.segment is not None:
        raise errors.SegmentMissing.field("body.segment", "the contract declares no segments")
    if segments is not None and body.segment not in segments.values:
        raise errors.SegmentMissing.field(
            "body.segment", f"the contract's `{segments.name}` is one of: {', '.join(segments.values)}"
        )


def _new_participant(
    principal: Principal, body: ParticipantCreate, pseudonym: Pseudonym, keys: PartnershipKeys
) -> Participant:
    participant = Participant(
        id=uuid4(),
        partnership_id=body.partnership_id,
        contract_id=body.contract_id,
        pseudonym=pseudonym.value,
        key_version=pseudonym.key_version,
        municipality_code=body.municipality_code,
        enrolment_date=body.enrolment_date,
        cohort=body.cohort,
        segment=body.segment,
        enrolled_by_organisation_id=principal.organisation_id,
        version=1,
    )
    if body.municipal_reference is not None:
        key_version, blob = keys.encrypt_reference(
            body.municipal_reference,
            partnership_id=body.partnership_id,
            participant_id=participant.id,
            municipality_code=body.municipality_code,
        )
        participant.municipal_reference, participant.municipal_reference_key_version = blob, key_version
    return participant


async def _record_enrolment(
    session: AsyncSession, principal: Principal, participant: Participant, version: ContractVersion
) -> None:
    await append_event(
        session,
        principal,
        participant.partnership_id,
        type="participant.enrolled",
        subject=f"participants/{participant.id}",
        participant_id=participant.id,
        data={
            "participant_id": str(participant.id),
            "contract_id": str(participant.contract_id),
            "contract_version_id": str(version.id),
            "enrolment_date": participant.enrolment_date.isoformat(),
            "cohort": participant.cohort,
            "key_version": participant.key_version,
        },
    )


async def _enrolled(
    session: AsyncSession, partnership_id: UUID, candidates: list[Pseudonym], contract_ids: set[UUID]
) -> tuple[set[tuple[int, str]], dict[UUID, int]]:
    """Which of the pseudonyms are already enrolled in the partnership (under any key version), and how
    many participants each of `contract_ids` has, in one query.

    One `pseudonym IN (...)` per key version, so each is one scan of the unique index (a row-value IN
    list would be one index probe per pseudonym)."""
    by_version: dict[int, list[str]] = {}
    for p in candidates:
        by_version.setdefault(p.key_version, []).append(p.value)
    taken = select(
        Participant.key_version,
        Participant.pseudonym,
        cast(null(), Uuid).label("contract_id"),
        cast(null(), BigInteger).label("enrolled"),
    ).where(
        Participant.partnership_id == partnership_id,
        or_(
            *(
                and_(Participant.key_version == version, Participant.pseudonym.in_(values))
                for version, values in by_version.items()
            )
        ),
    )
    query: Select[Any] | CompoundSelect[Any] = taken
    if contract_ids:
        counted = (
            select(
                cast(null(), Integer),
                cast(null(), String),
                Participant.contract_id,
                cast(func.count(), BigInteger),
            )
            .where(Participant.contract_id.in_(contract_ids))
            .group_by(Participant.contract_id)
        )
        query = union_all(taken, counted)
    pseudonyms: set[tuple[int, str]] = set()
    counts: dict[UUID, int] = {}
    for key_version, pseudonym, contract_id, enrolled in await session.execute(query):
        if contract_id is None:
            pseudonyms.add((key_version, pseudonym))
        else:
            counts[contract_id] = enrolled
    return pseudonyms, counts


async def enrol_participant(
    session: AsyncSession, principal: Principal, body: ParticipantCreate, deps: Deps
) -> Participant:
    """Enrol a person by CPR number, keeping only a keyed pseudonym; the same person twice is refused."""
    (enrolled,) = await enrol_many(session, principal, [body], deps)
    if isinstance(enrolled, Problem):
        raise enrolled
    return enrolled


async def enrol_many(
    session: AsyncSession, principal: Principal, bodies: list[ParticipantCreate], deps: Deps
) -> list[Participant | Problem]:
    """Enrol each person, or say why not, in order; the same person twice (here or before) is refused.

    One partnership only. The rules run per person in memory; the database is asked once for the
    pseudonyms already enrolled and once for the contracts' head counts, under the partnership's ledger
    lock (which serialises enrolment per partnership), and the participants are inserted together.
    """
    if len({body.partnership_id for body in bodies}) > 1:
        raise ValueError("enrol_many takes one partnership's enrolments")
    outcomes: list[Participant | Problem | None] = []
    checked: list[tuple[int, ParticipantCreate, ContractVersion, list[Pseudonym]]] = []
    for body in bodies:
        try:
            cpr = check_enrolment(principal, body)
            version = await deps.contracts.version_in_force(
                body.contract_id, body.enrolment_date, token=deps.token
            )
            check_enrolment_terms(body, version)
        except Problem as problem:
            outcomes.append(problem)
            continue
        checked.append(
            (len(outcomes), body, version, deps.keys.all_pseudonyms(cpr.digits, body.partnership_id))
        )
        outcomes.append(None)  # decided below, against the database
    if not checked:
        return [outcome for outcome in outcomes if outcome is not None]
    partnership_id = bodies[0].partnership_id
    await lock_head(session, partnership_id)
    limited = {
        body.contract_id for _, body, version, _ in checked if version.terms.max_participants is not None
    }
    taken, counts = await _enrolled(
        session, partnership_id, [p for *_, candidates in checked for p in candidates], limited
    )
    made: list[tuple[Participant, ContractVersion]] = []
    for index, body, version, candidates in checked:
        keys = {(p.key_version, p.value) for p in candidates}
        if keys & taken:
            outcomes[index] = errors.DuplicateParticipant(
                "this person is already enrolled in the partnership"
            )
            continue
        cap = version.terms.max_participants
        if cap is not None and counts.get(body.contract_id, 0) >= cap:
            outcomes[index] = errors.ContractFull(f"the contract allows {cap} participants")
            continue
        taken |= keys
        counts[body.contract_id] = counts.get(body.contract_id, 0) + 1
        participant = _new_participant(principal, body, candidates[0], deps.keys)
        outcomes[index] = participant
        made.append((participant, version))
    session.add_all([participant for participant, _ in made])
    await session.flush()
    for participant, version in made:
        await _record_enrolment(session, principal, participant, version)
    return [outcome for outcome in outcomes if outcome is not None]


def _confirm(principal: Principal, participant: Participant, expected_version: int | None) -> bool:
    """The outcome payer of the participant's municipality confirms eligibility, once: whether it changed."""
    if not access.is_municipality_of_residence(principal, participant):
        raise errors.NotAPartner(
            "only the outcome payer of the participant's municipality confirms eligibility"
        )
    if participant.eligibility_confirmed_at is not None:
        return False
    check_version(participant.version, expected_version)
    participant.eligibility_confirmed_by_organisation_id = principal.organisation_id
    participant.eligibility_confirmed_by = principal.subject
    participant.eligibility_confirmed_at = datetime.now(UTC)
    participant.version += 1
    return True


async def _record_confirmation(session: AsyncSession, principal: Principal, participant: Participant) -> None:
    await append_event(
        session,
        principal,
        participant.partnership_id,
        type="participant.eligibility_confirmed",
        subject=f"participants/{participant.id}",
        participant_id=participant.id,
        data={"participant_id": str(participant.id)},
    )


async def confirm_eligibility(
    session: AsyncSession, principal: Principal, participant_id: UUID, *, expected_version: int | None
) -> Participant:
    """The outcome payer of the participant's municipality confirms eligibility (once; retries replay)."""
    participant = await get_participant(session, principal, participant_id, for_update=True)
    if _confirm(principal, participant, expected_version):
        await session.flush()
        await _record_confirmation(session, principal, participant)
    return participant


async def confirm_many(
    session: AsyncSession,
    principal: Principal,
    partnership_id: UUID | None,
    participant_ids: list[UUID],
    *,
    expected_versions: Sequence[int | None] = (),
) -> list[Participant | Problem]:
    """`confirm_eligibility` for many participants (of one partnership, unless `partnership_id` is None),
    each with the version its request read (`expected_versions`, by position; none: unconditional):
    locked in one query, in id order, and confirmed in the order given."""
    query = readable_participants(principal).where(Participant.id.in_(set(participant_ids)))
    if partnership_id is not None:
        query = query.where(Participant.partnership_id == partnership_id)
    rows = await session.execute(
        query.order_by(Participant.id).with_for_update().execution_options(populate_existing=True)
    )
    participants = {p.id: p for p in rows.scalars()}
    outcomes: list[Participant | Problem] = []
    changed: list[Participant] = []
    for n, participant_id in enumerate(participant_ids):
        participant = participants.get(participant_id)
        try:
            if participant is None:
                raise errors.ParticipantNotFound()
            expected = expected_versions[n] if n < len(expected_versions) else None
            if _confirm(principal, participant, expected):
                changed.append(participant)
        except Problem as problem:
            outcomes.append(problem)
            continue
        outcomes.append(participant)
    await session.flush()
    for participant in changed:
        await _record_confirmation(session, principal, participant)
    return outcomes


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
    if not access.may_record_exit(principal, participant):
        raise errors.NotAPartner("only the provider or the participant's municipality records an exit")
    if participant.exit_date is not None:
        if (participant.exit_date, participant.exit_reason) == (body.exit_date, body.reason):
            return participant
        raise errors.ParticipantAlreadyExited(
            f"the participant exited on {participant.exit_date.isoformat()}"
        )
    check_version(participant.version, expected_version)
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
        participant_id=participant.id,
        data={
            "participant_id": str(participant.id),
            "exit_date": body.exit_date.isoformat(),
            "reason": body.reason,
        },
    )
    return participant
