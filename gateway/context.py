"""The per-request GraphQL context: the verified caller and the shared downstream HTTP session."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from fastapi import Request
from strawberry.fastapi import BaseContext

from kit.auth import Principal, TokenVerifier, bearer_token


@dataclass
class Context(BaseContext):
    principal: Principal
    token: str
    http: aiohttp.ClientSession

    def __post_init__(self) -> None:
        super().__init__()


async def get_context(request: Request) -> Context:
    verifier: TokenVerifier = request.app.state.token_verifier
    token = bearer_token(request)
    principal = await verifier.verify(token)
    return Context(principal=principal, token=token, http=request.app.state.http)
