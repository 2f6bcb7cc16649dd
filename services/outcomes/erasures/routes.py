"""HTTP route for erasure requests by the data controller (the participant's outcome payer)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kit.db import DbSession
from kit.problems import problem_responses
from services.outcomes.dependencies import IdempotencyKey, OutcomeWriter
from services.outcomes.erasures import service
from services.outcomes.schemas import ErasureCreate, ErasureRead, LedgerValueErasure

router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.post(
    "/erasures",
    response_model=ErasureRead,
    status_code=201,
    summary="Erase free text from the ledger's disclosures, or a participant's reference and evidence",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def create_erasure(
    body: ErasureCreate, session: DbSession, principal: OutcomeWriter, idem: IdempotencyKey
) -> Response:
    if (replayed := await idem.replay()) is not None:
        return replayed
    if isinstance(body, LedgerValueErasure):
        erasure = await service.erase_ledger_value(session, principal, body.event_id, body.path)
    else:
        erasure = await service.erase_participant(session, principal, body.participant_id)
    return await idem.respond(201, ErasureRead.model_validate(erasure))
