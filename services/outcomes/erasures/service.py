"""Erasing personal data on the data controller's request, audited.

The data controller is the participant's outcome payer (`access.may_erase`). An erasure deletes values
and salts from `ledger_disclosures` (format-2 events: the chain keeps only their commitments, which reveal
nothing and still verify), the same text where the participant's record holds it, and for a whole
participant its municipal reference and evidence documents. It never touches `ledger_events`, payment
lines or any amount: the money history stays whole. Each erasure is an `erasures` row and a
partnership-level ledger event, `dk.effekt.erasure.completed`, naming no person (who requested it, what
kind, how many values and documents). Free text in events chained before format 2 is in the hashed record
itself and cannot be erased from the chain; it is erased from the participant's record all the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kit.auth import Principal
from services.outcomes import access, errors
from services.outcomes.ledger.disclosures import FREE_TEXT_KEYS
from services.outcomes.ledger.service import append_event
from services.outcomes.models import Erasure, LedgerDisclosure, LedgerEvent, OutcomeClaim, Participant
from services.outcomes.participants.service import get_participant

FREE_TEXT_PATHS = frozenset(f"data.{key}" for key in FREE_TEXT_KEYS)
# What an exited participant's erased exit reason reads (an exit always has a reason).
ERASED = "(erased)"


async def erase_ledger_value(
    session: AsyncSession, principal: Principal, event_id: UUID, path: str
) -> Erasure:
    """Erase one free-text value of a person-level event, and the same text in the participant's record."""
    if path not in FREE_TEXT_PATHS:
        raise errors.NotErasable.field("body.path", f"one of {', '.join(sorted(FREE_TEXT_PATHS))}")
    disclosure = await session.get(LedgerDisclosure, (event_id, path), with_for_update=True)
    if disclosure is None or disclosure.participant_id is None:
        raise errors.LedgerValueNotFound()
    try:
        participant = await get_participant(session, principal, disclosure.participant_id, for_update=True)
    except errors.ParticipantNotFound:
        raise errors.LedgerValueNotFound() from None
    if not access.may_erase(principal, participant):
        raise errors.NotAPartner("only the participant's outcome payer, the data controller, erases")
    if disclosure.salt is None:
        raise errors.AlreadyErased()
    erasure = _erasure(principal, participant, "ledger_value", event_id=event_id, path=path)
    text = disclosure.value
    _erase(disclosure, erasure)
    event_type = await session.scalar(select(LedgerEvent.type).where(LedgerEvent.id == event_id))
    if isinstance(text, str):
        await _erase_text_in_records(session, participant, str(event_type), text)
    erasure.values_erased = 1
    return await _record(session, principal, erasure)


async def erase_participant(session: AsyncSession, principal: Principal, participant_id: UUID) -> Erasure:
    """Erase a participant's municipal reference, evidence documents and every free text about them."""
    participant = await get_participant(session, principal, participant_id, for_update=True)
    if not access.may_erase(principal, participant):
        raise errors.NotAPartner("only the participant's outcome payer, the data controller, erases")
    erasure = _erasure(principal, participant, "participant")
    now = datetime.now(UTC)
    erased = await session.execute(
        update(LedgerDisclosure)
        .where(
            LedgerDisclosure.participant_id == participant.id,
            LedgerDisclosure.path.in_(FREE_TEXT_PATHS),
            LedgerDisclosure.salt.is_not(None),
        )
        .values(salt=None, value=None, erasure_id=erasure.id, erased_at=now)
        .returning(LedgerDisclosure.event_id)
    )
    erasure.values_erased = len(erased.all())
    documents = await session.execute(
        update(OutcomeClaim)
        .where(OutcomeClaim.participant_id == participant.id, OutcomeClaim.evidence_document.is_not(None))
        .values(evidence_document=None, evidence_media_type=None)
        .returning(OutcomeClaim.id)
    )
    erasure.documents_erased = len(documents.all())
    await session.execute(
        update(OutcomeClaim)
        .where(OutcomeClaim.participant_id == participant.id)
        .values(reason=None, dispute_reason=None)
    )
    # The evidence reference may be free text too; it goes where the document's hash still stands for the
    # evidence (a claim needs one of the two).
    await session.execute(
        update(OutcomeClaim)
        .where(OutcomeClaim.participant_id == participant.id, OutcomeClaim.evidence_sha256.is_not(None))
        .values(evidence_reference=None)
    )
    erasure.municipal_reference_erased = participant.municipal_reference is not None
    participant.municipal_reference = None
    participant.municipal_reference_key_version = None
    participant.cohort = None
    if participant.exit_reason is not None:
        participant.exit_reason = ERASED
    participant.version += 1
    return await _record(session, principal, erasure)


def _erasure(
    principal: Principal,
    participant: Participant,
    kind: str,
    *,
    event_id: UUID | None = None,
    path: str | None = None,
) -> Erasure:
    return Erasure(
        id=uuid4(),
        partnership_id=participant.partnership_id,
        participant_id=participant.id,
        kind=kind,
        event_id=event_id,
        path=path,
        values_erased=0,
        documents_erased=0,
        municipal_reference_erased=False,
        requested_by_organisation_id=principal.organisation_id,
        requested_by=principal.subject,
    )


def _erase(disclosure: LedgerDisclosure, erasure: Erasure) -> None:
    disclosure.salt = None
    disclosure.value = None
    disclosure.erasure_id = erasure.id
    disclosure.erased_at = datetime.now(UTC)


async def _erase_text_in_records(
    session: AsyncSession, participant: Participant, event_type: str, text: str
) -> None:
    """The same text where the participant's record holds it (an exit reason, a cohort, a claim's
    decision or dispute reason): whatever holds exactly this text about this participant goes."""
    if participant.cohort == text:
        participant.cohort = None
    if participant.exit_reason == text:
        participant.exit_reason = ERASED
    participant.version += 1
    if event_type.startswith("dk.effekt.claim."):
        for column in (OutcomeClaim.reason, OutcomeClaim.dispute_reason):
            await session.execute(
                update(OutcomeClaim)
                .where(OutcomeClaim.participant_id == participant.id, column == text)
                .values({column.key: None})
            )


async def _record(session: AsyncSession, principal: Principal, erasure: Erasure) -> Erasure:
    session.add(erasure)
    await session.flush()
    data: dict[str, Any] = {
        "erasure_id": str(erasure.id),
        "kind": erasure.kind,
        "values_erased": erasure.values_erased,
        "documents_erased": erasure.documents_erased,
        "municipal_reference_erased": erasure.municipal_reference_erased,
    }
    await append_event(
        session,
        principal,
        erasure.partnership_id,
        type="erasure.completed",
        subject=f"erasures/{erasure.id}",
        data=data,
    )
    return erasure
