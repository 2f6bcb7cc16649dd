"""Participants as partners see them: known only by pseudonym, enrolled by CPR number once, confirmed
eligible by their municipality, exited. Backed by the outcome service.

Which partner type sees these types and fields is policy.py's call; the outcome service applies the same
rules to rows (a payer sees only participants resident in its municipality).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway import policy
from gateway.clients.outcomes import ParticipantRow
from gateway.context import Context
from gateway.relay import Connection, GlobalNode, check_first, from_page, uuid_of
from gateway.results import ExpectedVersion, IdempotencyKey, Result, attempt
from gateway.rows import from_row
from kit.pagination import Page, encode_cursor

if TYPE_CHECKING:
    from gateway.claims import Claim


@strawberry.type(description="A participant, known only by pseudonym.")
class Participant(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    partnership_id: UUID
    contract_id: UUID
    pseudonym: str | None = strawberry.field(
        description="The keyed pseudonym of the CPR number (not in an outcome funder's schema)."
    )
    municipality_code: str
    enrolment_date: date
    cohort: str | None
    segment: str | None = strawberry.field(description="The terms' segment, fixed at enrolment.")
    eligibility_confirmed_at: datetime | None
    exit_date: date | None
    exit_reason: str | None = strawberry.field(description="Free text (not in an outcome funder's schema).")
    version: int
    created_at: datetime
    row: strawberry.Private[ParticipantRow]

    @classmethod
    def from_row(cls, row: ParticipantRow) -> Participant:
        return from_row(cls, row, row=row)

    @strawberry.field(description="The municipality of residence's own case reference.")
    def municipal_reference(self) -> str | None:
        return self.row.municipal_reference

    @strawberry.field(description="This participant's claims (one read of the partnership's claims).")
    async def claims(
        self, info: Info[Context, None]
    ) -> list[Annotated[Claim, strawberry.lazy("gateway.claims")]]:
        from gateway.claims import Claim

        rows = await info.context.loaders.claims_of_participant(self.partnership_id, self.uuid)
        return [Claim.from_row(r) for r in rows]


def _cursor(node: Participant) -> str:
    return encode_cursor(node.uuid)


async def participants_page(
    info: Info[Context, None], partnership_id: UUID, first: int, after: str | None
) -> Connection[Participant]:
    if not policy.rows_visible(info.context.roles_in(partnership_id), "Participant"):
        return from_page(Page[ParticipantRow](items=[]), Participant.from_row, _cursor)
    page = await info.context.services.outcomes.participants_page(
        partnership_id, limit=check_first(first), cursor=after
    )
    connection = from_page(page, Participant.from_row, _cursor, after=after)
    for edge in connection.edges:  # later `participant(id)` loads in this request are free
        info.context.loaders.participant.prime(edge.node.uuid, edge.node.row)
    return connection


# --- mutations ---------------------------------------------------------------------------------------------


@strawberry.input
class EnrolParticipantInput:
    partnership_id: relay.GlobalID
    contract_id: relay.GlobalID
    cpr: str = strawberry.field(description="Used once to derive the pseudonym; never stored or returned.")
    municipality_code: str
    enrolment_date: date
    cohort: str | None = None
    municipal_reference: str | None = None
    segment: str | None = strawberry.field(
        default=None, description="Required when the terms declare segments."
    )


@strawberry.type
class ParticipantMutation:
    @strawberry.mutation(description="Enrol a participant by CPR number (kept only as a keyed pseudonym).")
    async def enrol_participant(
        self, info: Info[Context, None], input: EnrolParticipantInput, idempotency_key: IdempotencyKey = None
    ) -> Result[Participant]:
        call = info.context.services.outcomes.enrol_participant(
            partnership_id=uuid_of(input.partnership_id, "Partnership", field="input.partnership_id"),
            contract_id=uuid_of(input.contract_id, "Contract", field="input.contract_id"),
            cpr=input.cpr,
            municipality_code=input.municipality_code,
            enrolment_date=input.enrolment_date,
            cohort=input.cohort,
            municipal_reference=input.municipal_reference,
            idempotency_key=idempotency_key,
            segment=input.segment,
        )
        return await attempt(call, Participant.from_row, body="input")

    @strawberry.mutation(description="As the outcome payer, confirm a participant's eligibility.")
    async def confirm_eligibility(
        self,
        info: Info[Context, None],
        participant_id: relay.GlobalID,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Participant]:
        call = info.context.services.outcomes.confirm_eligibility(
            uuid_of(participant_id, "Participant", field="participant_id"),
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Participant.from_row)

    @strawberry.mutation(description="Record a participant's exit from the programme.")
    async def exit_participant(
        self,
        info: Info[Context, None],
        participant_id: relay.GlobalID,
        exit_date: date,
        reason: str,
        expected_version: ExpectedVersion = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Participant]:
        call = info.context.services.outcomes.exit_participant(
            uuid_of(participant_id, "Participant", field="participant_id"),
            exit_date=exit_date,
            reason=reason,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Participant.from_row)
