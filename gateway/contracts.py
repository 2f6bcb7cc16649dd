"""Contracts as partners see them: versions with their terms (docs/contract-terms.md), signatures checked
against the stored terms, the diff between versions, and the draft → proposal → signatures lifecycle.
Backed by the contract registry; every partner in a partnership may read its contracts."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, cast
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.clients.contracts import ContractRow, ContractVersionRow, SignatureRow
from gateway.context import Context
from gateway.disclosure import ocds_record_of
from gateway.relay import GlobalNode, uuid_of
from gateway.results import Result, attempt
from gateway.rows import from_row

if TYPE_CHECKING:
    from gateway.partners import Organisation
    from gateway.statements import Statement


@strawberry.type
class Signature:
    organisation_id: UUID
    user_id: UUID
    content_hash: str
    signed_at: datetime
    valid: bool = strawberry.field(description="The signed hash matches the version's terms as stored now.")

    @classmethod
    def from_row(cls, row: SignatureRow) -> Signature:
        return from_row(cls, row)

    @strawberry.field
    async def organisation(
        self, info: Info[Context, None]
    ) -> Annotated[Organisation, strawberry.lazy("gateway.partners")] | None:
        from gateway.partners import Organisation

        row = await info.context.loaders.organisation.load(self.organisation_id)
        return Organisation.from_row(row) if row else None


@strawberry.type
class ContractDiff:
    from_version_id: UUID
    to_version_id: UUID
    added: JSON
    removed: JSON
    changed: JSON


@strawberry.enum(description="A version's life: draft, proposed, active, then superseded or ended.")
class ContractVersionStatus(enum.Enum):
    DRAFT = "draft"
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    TERMINATED = "terminated"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@strawberry.type(description="One version of a contract: its terms, status and signatures.")
class ContractVersion(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    contract_id: UUID
    number: int
    status: ContractVersionStatus
    content_hash: str | None = strawberry.field(description="SHA-256 of the RFC 8785 terms; set on proposal.")
    terms: JSON = strawberry.field(description="Terms, schema version 1 or 2 (docs/contract-terms.md).")
    title: str
    currency: str | None
    start_date: date
    end_date: date
    signatures: list[Signature]
    required_signatories: list[UUID]
    pending_signatories: list[UUID]
    derived_from_id: UUID | None
    proposed_at: datetime | None
    activated_at: datetime | None
    terminated_on: date | None
    end_reason: str | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: ContractVersionRow) -> ContractVersion:
        terms = row.terms or {}
        return from_row(
            cls,
            row,
            terms=cast(JSON, terms),
            title=str(terms.get("title", "")),
            currency=terms.get("currency"),
        )

    @strawberry.field(description="Pass to `updateContractDraft` as `etag` (one registry call per version).")
    async def etag(self, info: Info[Context, None]) -> str | None:
        return await info.context.services.contracts.version_etag(self.uuid)

    @strawberry.field(description="What changed in the terms from `from` to this version.")
    async def diff(self, info: Info[Context, None], from_version_id: relay.GlobalID) -> ContractDiff:
        row = await info.context.services.contracts.diff(
            self.uuid, from_version_id=uuid_of(from_version_id, "ContractVersion", field="fromVersionId")
        )
        return ContractDiff(
            from_version_id=row.from_version_id,
            to_version_id=row.to_version_id,
            added=row.added,
            removed=row.removed,
            changed=row.changed,
        )


@strawberry.type(description="A contract: its versions, oldest first, and the one in force.")
class Contract(GlobalNode):
    uuid: UUID = strawberry.field(description="The raw UUID, as REST and the events name this object.")
    partnership_id: UUID
    title: str
    created_by_organisation_id: UUID
    created_at: datetime

    @classmethod
    def from_row(cls, row: ContractRow) -> Contract:
        return from_row(cls, row)

    @strawberry.field
    async def versions(self, info: Info[Context, None]) -> list[ContractVersion]:
        return [ContractVersion.from_row(r) for r in await info.context.loaders.versions_of.load(self.uuid)]

    @strawberry.field(description="The active version (its terms govern today), if any.")
    async def active_version(self, info: Info[Context, None]) -> ContractVersion | None:
        rows = await info.context.loaders.versions_of.load(self.uuid)
        active = [r for r in rows if r.status == "active"]
        return ContractVersion.from_row(active[-1]) if active else None

    @strawberry.field(
        description="The contract as an OCDS record package: a release per version that governed, and the "
        "compiled release; `public` blocks only (docs/open-data.md)."
    )
    async def ocds_record(self, info: Info[Context, None]) -> JSON:
        return await ocds_record_of(info, self.uuid)

    @strawberry.field(description="Payment statements under this contract that you may read.")
    async def statements(
        self, info: Info[Context, None]
    ) -> list[Annotated[Statement, strawberry.lazy("gateway.statements")]]:
        from gateway.statements import Statement

        rows = await info.context.loaders.statements_of_contract.load(self.uuid)
        return [Statement.from_row(r) for r in rows]


# --- mutations ---------------------------------------------------------------------------------------------

IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(description="Send the same key when retrying, so the write happens once."),
]


@strawberry.type
class ContractMutation:
    @strawberry.mutation(description="Draft a contract for a partnership (terms: docs/contract-terms.md).")
    async def create_contract(
        self,
        info: Info[Context, None],
        partnership_id: relay.GlobalID,
        terms: JSON,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[Contract]:
        call = info.context.services.contracts.create_contract(
            partnership_id=uuid_of(partnership_id, "Partnership", field="partnership_id"),
            terms=terms,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, Contract.from_row)

    @strawberry.mutation(description="Replace a draft's terms; `etag` is the ETag of the draft you edited.")
    async def update_contract_draft(
        self, info: Info[Context, None], version_id: relay.GlobalID, terms: JSON, etag: str
    ) -> Result[ContractVersion]:
        call = info.context.services.contracts.replace_draft_terms(
            uuid_of(version_id, "ContractVersion", field="version_id"), terms=terms, etag=etag
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(description="Propose a draft for signature: freezes its terms and content hash.")
    async def propose_contract_version(
        self, info: Info[Context, None], version_id: relay.GlobalID, idempotency_key: IdempotencyKey = None
    ) -> Result[ContractVersion]:
        call = info.context.services.contracts.propose_version(
            uuid_of(version_id, "ContractVersion", field="version_id"), idempotency_key=idempotency_key
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(description="Withdraw a draft or a proposal.")
    async def withdraw_contract_version(
        self,
        info: Info[Context, None],
        version_id: relay.GlobalID,
        reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[ContractVersion]:
        call = info.context.services.contracts.withdraw_version(
            uuid_of(version_id, "ContractVersion", field="version_id"),
            reason=reason,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(
        description="Sign a proposed version for your organisation; `contentHash` is the hash you read."
    )
    async def sign_contract_version(
        self,
        info: Info[Context, None],
        version_id: relay.GlobalID,
        content_hash: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[ContractVersion]:
        call = info.context.services.contracts.sign_version(
            uuid_of(version_id, "ContractVersion", field="version_id"),
            content_hash=content_hash,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(description="Start an amendment: a new draft derived from the active version.")
    async def amend_contract(
        self,
        info: Info[Context, None],
        contract_id: relay.GlobalID,
        terms: JSON | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[ContractVersion]:
        call = info.context.services.contracts.amend_contract(
            uuid_of(contract_id, "Contract", field="contract_id"),
            terms=terms,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(description="Terminate the active version from a date.")
    async def terminate_contract_version(
        self,
        info: Info[Context, None],
        version_id: relay.GlobalID,
        effective_on: date,
        reason: str,
        idempotency_key: IdempotencyKey = None,
    ) -> Result[ContractVersion]:
        call = info.context.services.contracts.terminate_version(
            uuid_of(version_id, "ContractVersion", field="version_id"),
            effective_on=effective_on,
            reason=reason,
            idempotency_key=idempotency_key,
        )
        return await attempt(call, ContractVersion.from_row)
