"""Identity as the gateway reads it: organisations, partnerships and their memberships."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from gateway.clients.transport import IdRow, ServiceClient, body, if_match, write_headers
from kit.pagination import Page


class OrganisationRow(IdRow):
    name: str
    partner_type: str
    identifier: str
    cvr: str | None = None
    municipality_code: str | None = None


class PartnershipRow(IdRow):
    name: str
    description: str | None = None
    status: str
    version: int
    created_at: datetime


class MembershipRow(IdRow):
    organisation_id: UUID
    role: str
    created_at: datetime


class MembershipGrantRow(IdRow):
    organisation_id: UUID
    role: str
    status: str
    proposed_by: UUID
    consents: list[UUID]
    awaiting: list[UUID]
    membership_id: UUID | None = None
    created_at: datetime


class IdentityClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def organisations(self, ids: Sequence[UUID]) -> dict[UUID, OrganisationRow]:
        return await self.http.batch(OrganisationRow, "/v1/organisations", ids)

    async def partnerships(self, ids: Sequence[UUID]) -> dict[UUID, PartnershipRow]:
        return await self.http.batch(PartnershipRow, "/v1/partnerships", ids)

    async def partnerships_page(self, *, limit: int, cursor: str | None) -> Page[PartnershipRow]:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self.http.page(PartnershipRow, "/v1/partnerships", params)

    async def memberships_of(self, partnership_id: UUID) -> list[MembershipRow]:
        return await self.http.every(
            MembershipRow, "/v1/memberships", {"partnership_id": str(partnership_id)}
        )

    async def create_partnership(
        self, *, name: str, description: str, idempotency_key: str | None
    ) -> PartnershipRow:
        answer = await self.http.send(
            "POST",
            "/v1/partnerships",
            {"name": name, "description": description},
            headers=write_headers(idempotency_key),
        )
        return PartnershipRow.model_validate(answer)

    async def update_partnership(
        self,
        partnership_id: UUID,
        *,
        expected_version: int,
        name: str | None,
        description: str | None,
        status: str | None,
    ) -> PartnershipRow:
        answer = await self.http.send(
            "PATCH",
            f"/v1/partnerships/{partnership_id}",
            body(name=name, description=description, status=status),
            headers=if_match(expected_version),
        )
        return PartnershipRow.model_validate(answer)

    async def add_member(
        self, partnership_id: UUID, *, organisation_id: UUID, role: str, idempotency_key: str | None
    ) -> MembershipRow:
        answer = await self.http.send(
            "POST",
            f"/v1/partnerships/{partnership_id}/memberships",
            {"organisation_id": str(organisation_id), "role": role},
            headers=write_headers(idempotency_key),
        )
        return MembershipRow.model_validate(answer)

    async def remove_member(self, partnership_id: UUID, membership_id: UUID) -> None:
        await self.http.send("DELETE", f"/v1/partnerships/{partnership_id}/memberships/{membership_id}")

    async def pending_membership_grants(self, partnership_id: UUID) -> list[MembershipGrantRow]:
        page = await self.http.page(
            MembershipGrantRow,
            f"/v1/partnerships/{partnership_id}/membership-grants",
            {"status": "pending", "limit": "100"},
        )
        return list(page.items)

    async def propose_member(
        self, partnership_id: UUID, *, organisation_id: UUID, role: str, idempotency_key: str | None
    ) -> MembershipGrantRow:
        answer = await self.http.send(
            "POST",
            f"/v1/partnerships/{partnership_id}/membership-grants",
            {"organisation_id": str(organisation_id), "role": role},
            headers=write_headers(idempotency_key),
        )
        return MembershipGrantRow.model_validate(answer)

    async def consent_to_member(
        self, partnership_id: UUID, grant_id: UUID, *, idempotency_key: str | None
    ) -> MembershipGrantRow:
        answer = await self.http.send(
            "POST",
            f"/v1/partnerships/{partnership_id}/membership-grants/{grant_id}/consents",
            headers=write_headers(idempotency_key),
        )
        return MembershipGrantRow.model_validate(answer)

    async def decline_member(self, partnership_id: UUID, grant_id: UUID) -> MembershipGrantRow:
        answer = await self.http.send(
            "DELETE", f"/v1/partnerships/{partnership_id}/membership-grants/{grant_id}"
        )
        return MembershipGrantRow.model_validate(answer)
