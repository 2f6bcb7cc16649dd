"""The GraphQL endpoint: strawberry's FastAPI router, adapted to the partner a request comes from.

- Each partner type is served its own schema variant (built from one set of types, see schema.py), so an
  investor's introspection never shows a participant. The variant is chosen per request from the verified
  token and held in a context variable: each request runs in its own task, so no request sees another's.
- GraphQL-over-HTTP: `application/graphql-response+json` when the client accepts it, with 4xx for
  request errors (unparseable, invalid, over a limit) and 200 once execution started.
- Trusted documents: a request may name a document by id (`documentId` or the persisted-query
  extension); with `trusted_documents_only` (production) nothing else is executed.
- Subscriptions: only `graphql-transport-ws`. The socket authenticates in `connection_init` (a bad or
  missing token closes it with 4403 before any operation runs); from then on its operations run with that
  caller's context and schema variant. A page on another origin may open the socket when CORS admits its
  origin for `/graphql` (kit/cors.py): the token travels in `connection_init`, never in a cookie, so a page
  gains nothing by the user's browser it would not have without it; any other origin's handshake is a 403.
- Errors: domain errors and GraphQL's own pass through; anything unexpected is masked in production.
  Every error carries the request id to correlate with the logs, which hold codes, never the document
  (error_log.py).
- Hostile input (too-deep or invalid JSON, messages of the wrong shape) is a 400 problem over HTTP and a
  4400 close over WebSocket, never a 500 (input_limits.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import strawberry
from cross_web import HTTPException
from fastapi import Request, Response
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from gateway import input_limits
from gateway.error_log import log_task_failure
from gateway.hardening import TrustedDocuments, is_client_safe
from kit.cors import AllowedOrigins
from kit.problems import BadRequest, NotFound

GRAPHQL_RESPONSE = "application/graphql-response+json"
_schema_for_request: ContextVar[strawberry.Schema | None] = ContextVar("effekt_schema", default=None)


def use_schema(schema: strawberry.Schema) -> None:
    """Serve this request with `schema` (called by the context getter once the caller is known)."""
    _schema_for_request.set(schema)


SocketAuthenticator = Callable[[dict[str, Any]], Awaitable[tuple[Any, strawberry.Schema]]]


class AuthenticatedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """`graphql-transport-ws` whose `connection_init` must carry a valid token: it then fixes the socket's
    context (principal, clients, loaders) and schema variant before acknowledging."""

    view: EffektGraphQLRouter

    async def handle_message(self, message: Message) -> None:
        """A message of the wrong shape closes the socket with 4400 (input_limits.py), never crashes it."""
        if (problem := input_limits.socket_message_problem(message)) is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def run_operation(self, operation: Operation[Any, None]) -> None:
        """An unparseable document closes with 4400, as the protocol says. (Strawberry lets the parser
        cache's syntax error escape the operation's task instead.)"""
        try:
            await super().run_operation(operation)
        except GraphQLSyntaxError:
            await self.websocket.close(code=4400, reason="Syntax error in the document")

    async def handle_task_exception(self, error: Exception) -> None:
        if not isinstance(error, GraphQLSyntaxError):  # the client's mistake, answered above
            log_task_failure(error)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if not self.connection_init_received and isinstance(payload, dict):
            try:
                self.context, self.schema = await self.view.authenticate_socket(payload)
            except Exception:  # any failure to authenticate refuses the socket, never acknowledges it
                self.connection_init_received = True
                await self.websocket.close(code=4403, reason="Forbidden")
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Subscriptions obey trusted documents like HTTP requests do (production runs only those)."""
        if not self.connection_acknowledged:
            await super().handle_subscribe(message)  # closes the socket: 4401
            return
        renewed = getattr(self.context, "renewed", None)
        if renewed is not None:  # fresh loaders per operation (the operation's task reads it when it starts)
            self.context = renewed()
        payload = message["payload"]
        data = GraphQLRequestData(
            query=payload.get("query"),
            variables=payload.get("variables"),
            operation_name=payload.get("operationName"),
            extensions=payload.get("extensions"),
        )
        try:
            payload["query"] = self.view.resolve_document(data).query or ""
        except HTTPException as refused:
            error = GraphQLError(refused.reason, extensions={"code": "untrusted-document"})
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        if not payload["query"]:
            await self.handle_invalid_message("A subscribe message needs a query or a documentId")
            return
        await super().handle_subscribe(message)


class EffektGraphQLRouter(GraphQLRouter[Any, None]):
    graphql_transport_ws_handler_class = AuthenticatedTransportWSHandler

    def __init__(
        self,
        default_schema: strawberry.Schema,
        *,
        trusted_documents: TrustedDocuments,
        trusted_documents_only: bool,
        mask_errors: bool,
        authenticate_socket: SocketAuthenticator,
        origins: AllowedOrigins | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(default_schema, **kwargs)
        self.trusted_documents = trusted_documents
        self.trusted_documents_only = trusted_documents_only
        self.mask_errors = mask_errors
        self.authenticate_socket = authenticate_socket
        self.origins = origins

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        """A cross-origin handshake from an origin CORS admits (same-origin ones strawberry lets through)."""
        return self.origins is not None and self.origins.allows(origin)

    @property  # type: ignore[override]
    def schema(self) -> strawberry.Schema:
        return _schema_for_request.get() or self._default_schema

    @schema.setter
    def schema(self, value: strawberry.Schema) -> None:
        self._default_schema = value

    def decode_json(self, data: str | bytes) -> object:
        return input_limits.decode_json(data)  # WebSocket messages: a failure closes the socket with 4400

    def parse_json(self, data: str | bytes) -> Any:
        return input_limits.parse_request_json(data)  # HTTP bodies and query parameters: a 400 problem

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Every refusal of an HTTP request is a problem (RFC 9457), like the rest of Effekt's errors:
        strawberry's own answer is a `text/plain` 400."""
        # The handshake's origin check is synchronous: re-read the set first if the origin is new to it (a
        # client registered a moment ago), as the CORS middleware does for HTTP.
        origin = request.headers.get("origin") if self.is_websocket_request(request) else None
        if self.origins is not None and origin is not None:
            await self.origins.check(origin)
        try:
            return await super().run(request, context, root_value)
        except HTTPException as refused:
            if self.is_websocket_request(request):
                raise
            problem = NotFound if refused.status_code == 404 else BadRequest
            raise problem(refused.reason) from refused

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            raise HTTPException(400, "Batched operations are not accepted")
        if not isinstance(data.operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null")
        return self.resolve_document(data)

    def resolve_document(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """The document to run: the trusted one a request names, or its own if that is acceptable."""
        extensions = data.extensions or {}
        persisted = extensions.get("persistedQuery")
        key = extensions.get("documentId") or (
            persisted.get("sha256Hash") if isinstance(persisted, Mapping) else None
        )
        if key is not None:
            query = self.trusted_documents.get(str(key))
            if query is None:
                raise HTTPException(400, f"Unknown trusted document {key!r}")
            if data.query is not None and data.query != query:
                raise HTTPException(400, "The query does not match the trusted document it names")
            data.query = query
        elif self.trusted_documents_only and (data.query is None or data.query not in self.trusted_documents):
            raise HTTPException(400, "Only trusted documents are accepted here; send a documentId")
        return data

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        request_id = getattr(request.state, "request_id", None)
        errors: list[dict[str, Any]] = []
        for error in result.errors or ():
            if self.mask_errors and not is_client_safe(error):
                error = GraphQLError(
                    "Unexpected error; quote the request id.",
                    error.nodes,
                    positions=error.positions,
                    path=error.path,
                    extensions={"code": "internal-error"},
                )
            formatted: dict[str, Any] = {**error.formatted}
            original = error.original_error
            extensions = dict(formatted.get("extensions") or {})
            extensions.update(getattr(original, "extensions", None) or {})
            if request_id:
                extensions["request_id"] = request_id
            formatted["extensions"] = extensions
            errors.append(formatted)
        response: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            response["errors"] = list[object](errors)
        if result.extensions:
            response["extensions"] = result.extensions
        # A request error: nothing executed (parse, validation, limits). No `data` key, per GraphQL-over-HTTP.
        if result.data is None and errors and all("path" not in e for e in errors):
            request.state.graphql_request_error = True
            del response["data"]
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        request = self._current_request.get()
        accept = request.headers.get("accept", "") if request is not None else ""
        if GRAPHQL_RESPONSE in accept or "application/json" not in accept:
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if request is not None and getattr(request.state, "graphql_request_error", False):
                response.status_code = 400
        return response

    _current_request: ContextVar[Request | None] = ContextVar("effekt_graphql_request", default=None)

    async def get_sub_response(self, request: Request) -> Response:
        self._current_request.set(request)
        return await super().get_sub_response(request)
