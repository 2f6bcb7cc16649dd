"""Request and response bodies of the disclosure routes (the exports are the standards' own documents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kit.cells import MAX_THRESHOLD, MIN_THRESHOLD
from kit.reads import ReadModel
from kit.text import FreeText
from services.contracts.terms.disclosure import BlockCode, DisclosureStatus


class BlockRead(BaseModel):
    code: str
    status: DisclosureStatus
    disputed: bool = Field(description="Shown to members with this flag; never in an export")
    source: str = Field(description="`set` by the outcome payers, from the signed `terms`, or the `default`")
    description: str
    exported_as: str


class DisclosureRead(BaseModel):
    partnership_id: UUID
    small_cell_threshold: int = Field(description="Counts of this many or fewer are withheld")
    blocks: list[BlockRead]


class DisclosureUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocks: dict[BlockCode, DisclosureStatus] = Field(default_factory=dict, max_length=50)
    small_cell_threshold: int | None = Field(None, ge=MIN_THRESHOLD, le=MAX_THRESHOLD)
    reason: FreeText | None = Field(None, max_length=2000, description="Why; kept in the audit")


class DisclosureChangeRead(ReadModel):
    id: UUID
    partnership_id: UUID
    block: str = Field(description="A block's code, or `small_cell_threshold`")
    before: str
    after: str
    reason: str | None
    actor: dict[str, Any]
    changed_at: datetime


class PublicationRead(ReadModel):
    partnership_id: UUID
    published_at: datetime
    published_by: dict[str, Any]
    results: dict[str, Any] = Field(description="The results as published: withheld counts are null")
