"""Annotated dependencies of the contracts routes: the caller by scope, idempotency, the identity client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kit.auth import Principal, scoped, scoped_any
from kit.idempotency import Idempotency, idempotency_dependency
from kit.openapi import IDEMPOTENCY_KEY, reads_headers
from services.contracts.clients.identity import IdentityClient
from services.contracts.events import SERVICE_SCOPE
from services.contracts.models import idempotency_keys
from services.contracts.settings import Settings

ContractReader = Annotated[Principal, Depends(scoped("contracts:read"))]
ContractWriter = Annotated[Principal, Depends(scoped("contracts:write"))]
ContractSigner = Annotated[Principal, Depends(scoped("contracts:sign"))]
# The change log: an operator's `contracts:read` or a platform service's client (events.py checks which).
EventReader = Annotated[Principal, Depends(scoped_any("contracts:read", SERVICE_SCOPE))]
IdempotencyKey = Annotated[
    Idempotency, Depends(reads_headers(IDEMPOTENCY_KEY)(idempotency_dependency(idempotency_keys)))
]


def _identity(request: Request) -> IdentityClient:
    client: IdentityClient = request.app.state.identity
    return client


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Identity = Annotated[IdentityClient, Depends(_identity)]
CurrentSettings = Annotated[Settings, Depends(_settings)]
