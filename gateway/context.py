"""The per-request GraphQL context: the verified caller, its token (forwarded downstream), the request's
service clients and DataLoaders, the schema variant for its partner type, and for subscriptions the
process's shared ledger readers and the connection the subscription's slot is counted against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from gateway.clients import Services
from gateway.loaders import Loaders
from gateway.settings import Settings
from gateway.streams import Hub
from gateway.view import use_schema
from kit.auth import Principal, TokenVerifier, bearer_token
from kit.problems import Unauthorized


@dataclass
class Context(BaseContext):
    principal: Principal
    token: str
    http: aiohttp.ClientSession
    services: Services
    loaders: Loaders
    # The process's shared ledger readers and subscription limits (subscriptions.py).
    streams: Hub[Any]
    # Which connection an operation runs on: the same object for every operation of one WebSocket.
    connection: object = field(default_factory=object)
    verifier: TokenVerifier | None = None
    # Report `extensions.serviceCalls` (development and test only: it reveals the query's fan-out).
    report_calls: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def renewed(self) -> Context:
        """The same caller with fresh clients and loaders: each operation on a long-lived WebSocket gets
        its own, so no cached row outlives the operation that read it."""
        services = Services.for_token(self.services.urls, self.http, self.token)
        return Context(
            principal=self.principal,
            token=self.token,
            http=self.http,
            services=services,
            loaders=Loaders(services),
            streams=self.streams,
            connection=self.connection,
            verifier=self.verifier,
            report_calls=self.report_calls,
            extras=dict(self.extras),
        )

    def roles_in(self, partnership_id: UUID) -> frozenset[str]:
        return self.principal.roles_in(partnership_id)


def make_context(app_state: Any, principal: Principal, token: str) -> Context:
    settings: Settings = app_state.settings
    services = Services.for_token(settings.service_urls, app_state.http, token)
    return Context(
        principal=principal,
        token=token,
        http=app_state.http,
        services=services,
        loaders=Loaders(services),
        streams=app_state.ledger_streams,
        verifier=app_state.token_verifier,
        report_calls=not settings.production,
    )


async def get_context(connection: HTTPConnection) -> Context | PendingContext:
    """HTTP requests authenticate with their bearer token here. A WebSocket authenticates in its
    `connection_init` message instead (view.py), so until then its context holds nothing to act with."""
    if connection.scope["type"] == "websocket":
        return PendingContext()
    verifier: TokenVerifier = connection.app.state.token_verifier
    token = bearer_token(connection)  # type: ignore[arg-type]
    principal = await verifier.verify(token)
    use_schema(connection.app.state.schemas[principal.partner_type])
    return make_context(connection.app.state, principal, token)


class PendingContext(BaseContext):
    """A WebSocket's context before `connection_init` has been authenticated."""


async def authenticate_socket(app_state: Any, params: dict[str, Any]) -> tuple[Context, Any]:
    """`connection_init`'s payload carries `{"Authorization": "Bearer <token>"}` (or `token`): the
    socket's context and schema variant, fixed for the connection's lifetime."""
    raw = params.get("Authorization") or params.get("authorization") or params.get("token") or ""
    token = str(raw).removeprefix("Bearer ").strip()
    if not token:
        raise Unauthorized("send the access token in connection_init's payload")
    verifier: TokenVerifier = app_state.token_verifier
    principal = await verifier.verify(token)
    return make_context(app_state, principal, token), app_state.schemas[principal.partner_type]
