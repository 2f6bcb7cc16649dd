"""Request and response shapes for partnerships and memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from kit.partners import MembershipRole
from kit.reads import ReadModel
from kit.text import FreeText
from services.identity.directory.schemas import Name


class PartnershipCreate(BaseModel):
    name: Name = Field(min_length=1, max_length=200)
    description: FreeText = Field("", max_length=10_000)


class PartnershipUpdate(BaseModel):
    name: Name | None = Field(None, min_length=1, max_length=200)
    description: FreeText | None = Field(None, max_length=10_000)
    status: Literal["active", "closed"] | None = None


class PartnershipRead(ReadModel):
    id: UUID
    name: str
    description: str
    status: Literal["active", "closed"]
    version: int
    created_at: datetime


class MembershipCreate(BaseModel):
    organisation_id: UUID
    role: MembershipRole


class MembershipRead(ReadModel):
    id: UUID
    partnership_id: UUID
    organisation_id: UUID
    role: MembershipRole
    created_at: datetime


class MembershipGrantRead(ReadModel):
    """A proposed membership and the outcome payers' consents to it."""

    id: UUID
    partnership_id: UUID
    organisation_id: UUID = Field(description="The organisation the role is proposed for.")
    role: MembershipRole
    status: Literal["pending", "granted", "declined"]
    proposed_by: UUID = Field(description="The organisation that proposed it.")
    consents: list[UUID] = Field(description="Organisations that have consented, in the order they did.")
    awaiting: list[UUID] = Field(
        description="Outcome payers whose consent is still missing (empty once granted or declined)."
    )
    membership_id: UUID | None = Field(description="The membership the grant became, once granted.")
    created_at: datetime
    settled_at: datetime | None
