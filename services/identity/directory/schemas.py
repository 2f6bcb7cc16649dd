"""Request and response shapes of the management API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, EmailStr, Field

from kit.partners import PartnerType as PartnerType  # re-exported: routes and schemas name it here
from kit.reads import ReadModel
from kit.text import FreeWords

OrgRole = Literal["admin", "member", "signatory"]


# A name people read in lists and documents: whitespace alone would be an invisible one.
Name = FreeWords


class OrganisationCreate(BaseModel):
    name: Name = Field(min_length=1, max_length=200)
    partner_type: PartnerType
    identifier: str | None = Field(
        None,
        max_length=80,
        description="org-id style `<scheme>-<identifier>`, e.g. `DK-CVR-29403473`, `GB-COH-01234567`, "
        "`GB-GOR-PB123` (docs/identity.md lists the schemes). Give this or `cvr`.",
    )
    cvr: str | None = Field(
        None,
        description="Danish CVR number: 8 digits passing the modulus-11 check; the same as the identifier "
        "`DK-CVR-<cvr>`.",
    )
    municipality_code: str | None = Field(
        None, description="Required for municipalities (3 digits, e.g. Herning 657), refused for others."
    )


class OrganisationUpdate(BaseModel):
    name: Name = Field(min_length=1, max_length=200)


class OrganisationRead(ReadModel):
    id: UUID
    name: str
    partner_type: PartnerType
    identifier: str = Field(description="org-id style `<scheme>-<identifier>`")
    cvr: str | None = Field(description="The CVR number, for an organisation identified by one")
    municipality_code: str | None
    version: int
    created_at: datetime


class UserCreate(BaseModel):
    email: EmailStr
    display_name: Name = Field(min_length=1, max_length=200)
    org_role: OrgRole
    password: str = Field(max_length=256, description="At least 12 characters, mixing character classes.")


class UserUpdate(BaseModel):
    display_name: Name | None = Field(None, min_length=1, max_length=200)
    org_role: OrgRole | None = None


class PasswordChange(BaseModel):
    current_password: str | None = Field(None, max_length=256, description="Required to change your own.")
    new_password: str = Field(max_length=256)


class UserRead(ReadModel):
    id: UUID
    organisation_id: UUID
    email: str
    display_name: str
    org_role: OrgRole
    disabled_at: datetime | None
    version: int
    created_at: datetime


class AuditEventRead(ReadModel):
    id: UUID
    at: datetime
    actor_subject: str
    actor_kind: str
    actor_organisation_id: UUID | None
    organisation_id: UUID | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class SigningKeyRead(ReadModel):
    kid: str
    algorithm: str
    status: Literal["active", "retiring", "retired"]
    created_at: datetime
    retire_after: datetime | None
