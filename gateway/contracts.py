"""Contracts as partners see them: versions with their terms (docs/contract-terms.md), signatures checked
against the stored terms, the diff between versions, and the draft → proposal → signatures lifecycle.
Backed by the contract registry; every partner in a partnership may read its contracts."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.context import Context
from gateway.results import (
    Conflict,
    InvalidInput,
    NotFound,
    NotPermitted,
    RuleViolation,
    Unavailable,
    attempt,
    write_headers,
)

if TYPE_CHECKING:
    from gateway.partners import Organisation

Row = dict[str, Any]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@strawberry.type
class Signature:
    organisation_id: UUID
    user_id: UUID
    content_hash: str
    signed_at: datetime
    valid: bool = strawberry.field(description="The signed hash matches the version's terms as stored now.")

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


@strawberry.type(description="One version of a contract: its terms, status and signatures.")
class ContractVersion:
    id: UUID
    contract_id: UUID
    number: int
    status: str
    content_hash: str | None = strawberry.field(description="SHA-256 of the RFC 8785 terms; set on proposal.")
    terms: JSON = strawberry.field(description="Terms, schema version 1 (docs/contract-terms.md).")
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
    def from_row(cls, row: Row) -> ContractVersion:
        terms = row.get("terms") or {}
        return cls(
            id=UUID(row["id"]),
            contract_id=UUID(row["contract_id"]),
            number=int(row["number"]),
            status=row["status"],
            content_hash=row.get("content_hash"),
            terms=cast(JSON, terms),
            title=str(terms.get("title", "")),
            currency=terms.get("currency"),
            start_date=date.fromisoformat(row["start_date"]),
            end_date=date.fromisoformat(row["end_date"]),
            signatures=[
                Signature(
                    organisation_id=UUID(s["organisation_id"]),
                    user_id=UUID(s["user_id"]),
                    content_hash=s["content_hash"],
                    signed_at=datetime.fromisoformat(s["signed_at"]),
                    valid=bool(s["valid"]),
                )
                for s in row.get("signatures") or ()
            ],
            required_signatories=[UUID(x) for x in row.get("required_signatories") or ()],
            pending_signatories=[UUID(x) for x in row.get("pending_signatories") or ()],
            derived_from_id=UUID(row["derived_from_id"]) if row.get("derived_from_id") else None,
            proposed_at=_time(row.get("proposed_at")),
            activated_at=_time(row.get("activated_at")),
            terminated_on=date.fromisoformat(row["terminated_on"]) if row.get("terminated_on") else None,
            end_reason=row.get("end_reason"),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )

    @strawberry.field(description="Pass to `updateContractDraft` as `etag` (one registry call per version).")
    async def etag(self, info: Info[Context, None]) -> str | None:
        return await info.context.services.contracts.etag(f"/v1/contract-versions/{self.id}")

    @strawberry.field(description="What changed in the terms from `from` to this version.")
    async def diff(self, info: Info[Context, None], from_version_id: UUID) -> ContractDiff:
        row = await info.context.services.contracts.get(
            f"/v1/contract-versions/{self.id}/diff", {"from": str(from_version_id)}
        )
        return ContractDiff(
            from_version_id=UUID(row["from_version_id"]),
            to_version_id=UUID(row["to_version_id"]),
            added=row["added"],
            removed=row["removed"],
            changed=row["changed"],
        )


@strawberry.type(description="A contract: its versions, oldest first, and the one in force.")
class Contract:
    id: UUID
    partnership_id: UUID
    title: str
    created_by_organisation_id: UUID
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Contract:
        return cls(
            id=UUID(row["id"]),
            partnership_id=UUID(row["partnership_id"]),
            title=row["title"],
            created_by_organisation_id=UUID(row["created_by_organisation_id"]),
            created_at=datetime.fromisoformat(row["created_at"]),
        )

    @strawberry.field
    async def versions(self, info: Info[Context, None]) -> list[ContractVersion]:
        return [ContractVersion.from_row(r) for r in await info.context.loaders.versions_of.load(self.id)]

    @strawberry.field(description="The active version (its terms govern today), if any.")
    async def active_version(self, info: Info[Context, None]) -> ContractVersion | None:
        rows = await info.context.loaders.versions_of.load(self.id)
        active = [r for r in rows if r["status"] == "active"]
        return ContractVersion.from_row(active[-1]) if active else None

    @strawberry.field(description="Payment statements under this contract that you may read.")
    async def statements(
        self, info: Info[Context, None]
    ) -> list[Annotated[Statement, strawberry.lazy("gateway.outcomes")]]:
        from gateway.outcomes import Statement

        rows = await info.context.loaders.statements_of_contract.load(self.id)
        return [Statement.from_row(r) for r in rows]


if TYPE_CHECKING:
    from gateway.outcomes import Statement


# --- mutations ---------------------------------------------------------------------------------------------

ContractResult = Annotated[
    Contract | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("ContractResult"),
]
ContractVersionResult = Annotated[
    ContractVersion | InvalidInput | NotPermitted | NotFound | Conflict | RuleViolation | Unavailable,
    strawberry.union("ContractVersionResult"),
]
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
        partnership_id: UUID,
        terms: JSON,
        idempotency_key: IdempotencyKey = None,
    ) -> ContractResult:
        call = info.context.services.contracts.send(
            "POST",
            "/v1/contracts",
            {"partnership_id": str(partnership_id), "terms": terms},
            headers=write_headers(idempotency_key),
        )
        return await attempt(call, Contract.from_row)

    @strawberry.mutation(description="Replace a draft's terms; `etag` is the ETag of the draft you edited.")
    async def update_contract_draft(
        self, info: Info[Context, None], version_id: UUID, terms: JSON, etag: str
    ) -> ContractVersionResult:
        call = info.context.services.contracts.send(
            "PUT", f"/v1/contract-versions/{version_id}/terms", terms, headers={"If-Match": etag}
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(description="Propose a draft for signature: freezes its terms and content hash.")
    async def propose_contract_version(
        self, info: Info[Context, None], version_id: UUID, idempotency_key: IdempotencyKey = None
    ) -> ContractVersionResult:
        return await _transition(info, version_id, "proposal", None, idempotency_key)

    @strawberry.mutation(description="Withdraw a draft or a proposal.")
    async def withdraw_contract_version(
        self,
        info: Info[Context, None],
        version_id: UUID,
        reason: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ContractVersionResult:
        return await _transition(info, version_id, "withdrawal", {"reason": reason}, idempotency_key)

    @strawberry.mutation(
        description="Sign a proposed version for your organisation; `contentHash` is the hash you read."
    )
    async def sign_contract_version(
        self,
        info: Info[Context, None],
        version_id: UUID,
        content_hash: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ContractVersionResult:
        body = {"content_hash": content_hash} if content_hash else None
        return await _transition(info, version_id, "signatures", body, idempotency_key)

    @strawberry.mutation(description="Start an amendment: a new draft derived from the active version.")
    async def amend_contract(
        self,
        info: Info[Context, None],
        contract_id: UUID,
        terms: JSON | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> ContractVersionResult:
        call = info.context.services.contracts.send(
            "POST",
            f"/v1/contracts/{contract_id}/amendments",
            {"terms": terms} if terms is not None else None,
            headers=write_headers(idempotency_key),
        )
        return await attempt(call, ContractVersion.from_row)

    @strawberry.mutation(description="Terminate the active version from a date.")
    async def terminate_contract_version(
        self,
        info: Info[Context, None],
        version_id: UUID,
        effective_on: date,
        reason: str,
        idempotency_key: IdempotencyKey = None,
    ) -> ContractVersionResult:
        body = {"effective_on": effective_on.isoformat(), "reason": reason}
        return await _transition(info, version_id, "termination", body, idempotency_key)


async def _transition(
    info: Info[Context, None], version_id: UUID, action: str, body: Row | None, idempotency_key: str | None
) -> ContractVersionResult:
    call = info.context.services.contracts.send(
        "POST", f"/v1/contract-versions/{version_id}/{action}", body, headers=write_headers(idempotency_key)
    )
    return await attempt(call, ContractVersion.from_row)
