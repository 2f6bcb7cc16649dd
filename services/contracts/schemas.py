"""Request and response shapes of the contracts API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kit.reads import ReadModel
from kit.text import FreeText
from services.contracts.terms import Terms, Wording

VersionStatus = Literal["draft", "proposed", "active", "superseded", "terminated", "expired", "withdrawn"]


class ContractCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partnership_id: UUID
    terms: Terms


class AmendmentCreate(BaseModel):
    """A new draft; its terms default to a copy of the version it is derived from."""

    model_config = ConfigDict(extra="forbid")

    terms: Terms | None = None
    rationale: FreeText | None = Field(
        None, max_length=2000, description="Why the contract is amended (published as OCDS `rationale`)"
    )


class SignatureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_hash: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The content hash the signatory read; refused if the version's differs.",
    )


class TerminationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_on: date = Field(description="The first day the contract no longer governs")
    reason: Wording = Field(min_length=1, max_length=2000)


class ExpiryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: FreeText | None = Field(None, max_length=2000)


class WithdrawalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: FreeText | None = Field(None, max_length=2000)


class SignatureRead(ReadModel):
    id: UUID
    organisation_id: UUID
    user_id: UUID
    content_hash: str
    signed_at: datetime
    valid: bool = Field(description="The signed hash matches the version's terms as stored now")


class AttachmentRead(ReadModel):
    id: UUID
    version_id: UUID
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    uploaded_by_organisation_id: UUID


class TerminationConsentRead(ReadModel):
    organisation_id: UUID
    user_id: UUID
    effective_on: date
    reason: str
    unilateral: bool = Field(description="The terms let this party terminate alone")
    consented_at: datetime


class ContractEventRead(ReadModel):
    sequence: int
    id: UUID
    type: Literal["contract.activated", "contract.terminated", "contract.expired", "disclosure.withdrawn"]
    partnership_id: UUID
    contract_id: UUID | None = Field(description="Null for a partnership-wide event")
    version_id: UUID | None = Field(description="Null for a partnership-wide event")
    actor: dict[str, Any] = Field(description="Who acted: organisation_id, partner_type, kind, subject")
    data: dict[str, Any]
    occurred_at: datetime


class ContractEventPage(BaseModel):
    items: list[ContractEventRead]
    cursor: int = Field(description="Send as `after` to read on")


class LoggedVersionRead(ReadModel):
    """What the platform's services read of a version the change log names: its frozen terms."""

    id: UUID
    contract_id: UUID
    partnership_id: UUID
    number: int
    status: VersionStatus
    content_hash: str | None
    start_date: date
    end_date: date
    terms: dict[str, Any] = Field(description="Terms, schema version 1 or 2 (docs/contract-terms.md)")


class VersionRead(ReadModel):
    id: UUID
    contract_id: UUID
    partnership_id: UUID
    number: int
    status: VersionStatus
    content_hash: str | None = Field(description="SHA-256 of the RFC 8785 form of `terms`; set on proposal")
    terms: dict[str, Any] = Field(description="Terms, schema version 1 or 2 (docs/contract-terms.md)")
    signatures: list[SignatureRead]
    required_signatories: list[UUID] = Field(
        description="Organisations that must sign: fixed on proposal (every signing party, and for an "
        "amendment every signatory of the version it supersedes); for a draft, its own signing parties"
    )
    pending_signatories: list[UUID] = Field(description="Required organisations that have not signed yet")
    supersedes_id: UUID | None = Field(
        description="The active version this one will supersede, fixed on proposal; its signatories must "
        "sign this one too"
    )
    termination_consents: list[TerminationConsentRead]
    pending_termination_consents: list[UUID] = Field(
        description="Signing parties yet to consent to the termination under way"
    )
    attachments: list[AttachmentRead]
    derived_from_id: UUID | None
    start_date: date
    end_date: date
    created_at: datetime
    updated_at: datetime
    proposed_at: datetime | None
    activated_at: datetime | None
    superseded_at: datetime | None
    ended_at: datetime | None
    terminated_on: date | None
    end_reason: str | None
    rationale: str | None = Field(description="Why this amendment was made, as its proposer gave it")


class VersionSummary(ReadModel):
    id: UUID
    number: int
    status: VersionStatus
    content_hash: str | None
    start_date: date
    end_date: date


class ContractRead(ReadModel):
    id: UUID
    partnership_id: UUID
    title: str = Field(description="The title of the latest version")
    created_by_organisation_id: UUID
    created_at: datetime
    versions: list[VersionSummary]


class DiffRead(BaseModel):
    from_version_id: UUID
    to_version_id: UUID
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[dict[str, Any]]


class TermsIssueRead(BaseModel):
    name: str = Field(description="The dotted path of the field, as in a problem's `invalid_params`")
    reason: str


class TermsValidationRead(BaseModel):
    schema_version: int
    terms: dict[str, Any] = Field(description="The canonical form a version with these terms would store")
    content_hash: str = Field(description="SHA-256 of its RFC 8785 form: what signatories would sign")
    proposal_issues: list[TermsIssueRead] = Field(
        description="What the terms still lack before a version with them can be proposed for signature"
    )
