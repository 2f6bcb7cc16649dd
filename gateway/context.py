"""The per-request GraphQL context: the verified caller, its token (forwarded downstream), the shared HTTP
session, and the schema variant for its partner type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from fastapi import Request
from strawberry.fastapi import BaseContext

from gateway.view import use_schema
from kit.auth import Principal, TokenVerifier, bearer_token


@dataclass
class Context(BaseContext):
    principal: Principal
    token: str
    http: aiohttp.ClientSession
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()


async def get_context(request: Request) -> Context:
    verifier: TokenVerifier = request.app.state.token_verifier
    token = bearer_token(request)
    principal = await verifier.verify(token)
    use_schema(request.app.state.schemas[principal.partner_type])
    return Context(principal=principal, token=token, http=request.app.state.http)
