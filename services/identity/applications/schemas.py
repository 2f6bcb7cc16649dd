"""Request and response shapes for OAuth2 client registration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from kit.reads import ReadModel
from kit.text import Text
from services.identity.directory.schemas import Name

GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]


class ClientCreate(BaseModel):
    name: Name = Field(min_length=1, max_length=200)
    client_type: Literal["confidential", "public"]
    redirect_uris: list[Annotated[Text, Field(max_length=2000)]] = Field(default_factory=list, max_length=20)
    grant_types: list[GrantType] = Field(min_length=1)
    scopes: list[str] = Field(min_length=1)


class ClientRead(ReadModel):
    id: UUID
    client_id: str
    organisation_id: UUID
    name: str
    client_type: Literal["confidential", "public"]
    redirect_uris: list[str]
    grant_types: list[GrantType]
    scopes: list[str]
    disabled_at: datetime | None
    created_at: datetime


class ClientCreated(ClientRead):
    client_secret: str | None = Field(description="Shown once; only its hash is stored.")
