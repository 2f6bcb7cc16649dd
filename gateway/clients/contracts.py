"""The contract registry as the gateway reads it: contracts, their versions with terms and signatures, the
diff between two versions, and the version lifecycle's writes; open data (disclosure statuses, the INDIGO
and OCDS exports, publication; docs/open-data.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from gateway.clients.transport import IdRow, Row, ServiceClient, write_headers


class ContractRow(IdRow):
    partnership_id: UUID
    title: str
    created_by_organisation_id: UUID
    created_at: datetime


class SignatureRow(Row):
    organisation_id: UUID
    user_id: UUID
    content_hash: str
    signed_at: datetime
    valid: bool


class ContractVersionRow(IdRow):
    contract_id: UUID
    number: int
    status: str
    content_hash: str | None = None
    terms: dict[str, Any] | None = None
    signatures: list[SignatureRow] | None = None
    required_signatories: list[UUID] | None = None
    pending_signatories: list[UUID] | None = None
    derived_from_id: UUID | None = None
    start_date: date
    end_date: date
    proposed_at: datetime | None = None
    activated_at: datetime | None = None
    terminated_on: date | None = None
    end_reason: str | None = None
    updated_at: datetime


class ContractDiffRow(Row):
    from_version_id: UUID
    to_version_id: UUID
    added: Any
    removed: Any
    changed: Any


class DisclosureBlockRow(Row):
    code: str
    status: str
    disputed: bool
    source: str
    description: str


class DisclosureRow(Row):
    partnership_id: UUID
    small_cell_threshold: int
    blocks: list[DisclosureBlockRow]


class PublicationRow(Row):
    partnership_id: UUID
    published_at: datetime


class ContractsClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def contracts(self, ids: Sequence[UUID]) -> dict[UUID, ContractRow]:
        return await self.http.batch(ContractRow, "/v1/contracts", ids)

    async def versions(self, ids: Sequence[UUID]) -> dict[UUID, ContractVersionRow]:
        return await self.http.batch(ContractVersionRow, "/v1/contract-versions", ids)

    async def contracts_of(self, partnership_id: UUID) -> list[ContractRow]:
        return await self.http.every(ContractRow, "/v1/contracts", {"partnership_id": str(partnership_id)})

    async def versions_of(self, contract_id: UUID) -> list[ContractVersionRow]:
        """A contract's versions, oldest first (the service lists them whole)."""
        page = await self.http.page(ContractVersionRow, f"/v1/contracts/{contract_id}/versions")
        return page.items

    async def version_etag(self, version_id: UUID) -> str | None:
        return await self.http.etag(f"/v1/contract-versions/{version_id}")

    async def diff(self, version_id: UUID, *, from_version_id: UUID) -> ContractDiffRow:
        return await self.http.read(
            ContractDiffRow, f"/v1/contract-versions/{version_id}/diff", {"from": str(from_version_id)}
        )

    async def create_contract(
        self, *, partnership_id: UUID, terms: Any, idempotency_key: str | None
    ) -> ContractRow:
        answer = await self.http.send(
            "POST",
            "/v1/contracts",
            {"partnership_id": str(partnership_id), "terms": terms},
            headers=write_headers(idempotency_key),
        )
        return ContractRow.model_validate(answer)

    async def replace_draft_terms(self, version_id: UUID, *, terms: Any, etag: str) -> ContractVersionRow:
        answer = await self.http.send(
            "PUT", f"/v1/contract-versions/{version_id}/terms", terms, headers={"If-Match": etag}
        )
        return ContractVersionRow.model_validate(answer)

    async def amend_contract(
        self, contract_id: UUID, *, terms: Any | None, idempotency_key: str | None
    ) -> ContractVersionRow:
        answer = await self.http.send(
            "POST",
            f"/v1/contracts/{contract_id}/amendments",
            {"terms": terms} if terms is not None else None,
            headers=write_headers(idempotency_key),
        )
        return ContractVersionRow.model_validate(answer)

    async def propose_version(self, version_id: UUID, *, idempotency_key: str | None) -> ContractVersionRow:
        return await self._transition(version_id, "proposal", None, idempotency_key)

    async def withdraw_version(
        self, version_id: UUID, *, reason: str | None, idempotency_key: str | None
    ) -> ContractVersionRow:
        return await self._transition(version_id, "withdrawal", {"reason": reason}, idempotency_key)

    async def sign_version(
        self, version_id: UUID, *, content_hash: str | None, idempotency_key: str | None
    ) -> ContractVersionRow:
        body = {"content_hash": content_hash} if content_hash else None
        return await self._transition(version_id, "signatures", body, idempotency_key)

    async def terminate_version(
        self, version_id: UUID, *, effective_on: date, reason: str, idempotency_key: str | None
    ) -> ContractVersionRow:
        body = {"effective_on": effective_on.isoformat(), "reason": reason}
        return await self._transition(version_id, "termination", body, idempotency_key)

    async def _transition(
        self, version_id: UUID, action: str, body: dict[str, Any] | None, idempotency_key: str | None
    ) -> ContractVersionRow:
        answer = await self.http.send(
            "POST",
            f"/v1/contract-versions/{version_id}/{action}",
            body,
            headers=write_headers(idempotency_key),
        )
        return ContractVersionRow.model_validate(answer)

    # --- open data ---------------------------------------------------------------------------------------

    async def disclosure(self, partnership_id: UUID) -> DisclosureRow:
        return await self.http.read(DisclosureRow, f"/v1/partnerships/{partnership_id}/disclosure")

    async def disclosure_etag(self, partnership_id: UUID) -> str | None:
        return await self.http.etag(f"/v1/partnerships/{partnership_id}/disclosure")

    async def change_disclosure(
        self,
        partnership_id: UUID,
        *,
        blocks: dict[str, str],
        threshold: int | None,
        reason: str | None,
        etag: str,
    ) -> DisclosureRow:
        body = {"blocks": blocks, "small_cell_threshold": threshold, "reason": reason}
        answer = await self.http.send(
            "PATCH", f"/v1/partnerships/{partnership_id}/disclosure", body, headers={"If-Match": etag}
        )
        return DisclosureRow.model_validate(answer)

    async def indigo(self, partnership_id: UUID) -> dict[str, Any]:
        document: dict[str, Any] = await self.http.get(f"/v1/partnerships/{partnership_id}/indigo")
        return document

    async def ocds_record(self, contract_id: UUID) -> dict[str, Any]:
        document: dict[str, Any] = await self.http.get(f"/v1/contracts/{contract_id}/ocds-record")
        return document

    async def publish(self, partnership_id: UUID, *, idempotency_key: str | None) -> PublicationRow:
        answer = await self.http.send(
            "POST", f"/v1/partnerships/{partnership_id}/publications", headers=write_headers(idempotency_key)
        )
        return PublicationRow.model_validate(answer)
