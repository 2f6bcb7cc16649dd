"""Open data as partners see it (docs/open-data.md): each block's disclosure status on the partnership,
the INDIGO document and each contract's OCDS record (only `public` blocks, small cells withheld), and the
outcome payers' writes: change statuses, publish. The contract registry decides who may do each."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, cast
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.clients.contracts import DisclosureRow, PublicationRow
from gateway.context import Context
from gateway.relay import uuid_of
from gateway.results import Result, attempt
from gateway.rows import from_row


@strawberry.enum(description="`disputed` is shown to members with a flag; only `public` reaches an export.")
class DisclosureStatus(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    PARTNERSHIP = "partnership"
    DISPUTED = "disputed"


@strawberry.enum(description="Where a block's status comes from.")
class DisclosureSource(enum.Enum):
    SET = strawberry.enum_value("set", description="Set by the outcome payers.")
    TERMS = strawberry.enum_value("terms", description="From the signed terms.")
    DEFAULT = strawberry.enum_value("default", description="The platform's default for the block.")


@strawberry.type(description="One block of the registry or the results, and who may see it.")
class DisclosureBlock:
    code: str
    status: DisclosureStatus
    disputed: bool
    source: DisclosureSource
    description: str


@strawberry.type(description="What the partnership publishes, block by block.")
class Disclosure:
    partnership_id: UUID
    small_cell_threshold: int = strawberry.field(description="Counts of this many or fewer are withheld.")
    blocks: list[DisclosureBlock]

    @classmethod
    def from_row(cls, row: DisclosureRow) -> Disclosure:
        return from_row(cls, row)

    @strawberry.field(description="Pass to `changeDisclosure` as `etag`.")
    async def etag(self, info: Info[Context, None]) -> str | None:
        return await info.context.services.contracts.disclosure_etag(self.partnership_id)


@strawberry.type
class Publication:
    partnership_id: UUID
    published_at: datetime

    @classmethod
    def from_row(cls, row: PublicationRow) -> Publication:
        return from_row(cls, row)


async def disclosure_of(info: Info[Context, None], partnership_id: UUID) -> Disclosure:
    return Disclosure.from_row(await info.context.services.contracts.disclosure(partnership_id))


async def indigo_of(info: Info[Context, None], partnership_id: UUID) -> JSON:
    return cast(JSON, await info.context.services.contracts.indigo(partnership_id))


async def ocds_record_of(info: Info[Context, None], contract_id: UUID) -> JSON:
    return cast(JSON, await info.context.services.contracts.ocds_record(contract_id))


@strawberry.input
class DisclosureBlockInput:
    code: str
    status: DisclosureStatus


IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(description="Send the same key when retrying, so the write happens once."),
]


@strawberry.type
class DisclosureMutation:
    @strawberry.mutation(
        description="Change blocks' statuses or the small-cell threshold (outcome payers; audited). A block "
        "leaving `public` is announced as `dk.effekt.disclosure.withdrawn`."
    )
    async def change_disclosure(
        self,
        info: Info[Context, None],
        partnership_id: relay.GlobalID,
        etag: str,
        blocks: list[DisclosureBlockInput] | None = None,
        small_cell_threshold: int | None = None,
        reason: str | None = None,
    ) -> Result[Disclosure]:
        call = info.context.services.contracts.change_disclosure(
            uuid_of(partnership_id, "Partnership", field="partnership_id"),
            blocks={b.code: b.status.value for b in blocks or []},
            threshold=small_cell_threshold,
            reason=reason,
            etag=etag,
        )
        return await attempt(call, Disclosure.from_row)

    @strawberry.mutation(description="Publish: refresh the public read's organisations and results.")
    async def publish_open_data(
        self,
        info: Info[Context, None],
        partnership_id: relay.GlobalID,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Publication]:
        call = info.context.services.contracts.publish(
            uuid_of(partnership_id, "Partnership", field="partnership_id"), idempotency_key=idempotency_key
        )
        return await attempt(call, Publication.from_row)
