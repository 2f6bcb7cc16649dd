"""The gateway's FastAPI app: GraphQL at `/graphql`, health at `/healthz` and `/readyz`."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from gateway.context import authenticate_socket, get_context
from gateway.graphiql.page import GraphiQLPage
from gateway.graphiql.page import router as graphiql_router
from gateway.hardening import TrustedDocuments
from gateway.schema import build_schema, schemas
from gateway.settings import Settings
from gateway.subscriptions import ledger_streams
from gateway.view import EffektGraphQLRouter
from kit.cors import identity_origins, install_cors
from kit.http import RequestIdMiddleware
from kit.logging import configure_logging
from kit.metrics import install_metrics
from kit.problems import install_problem_handlers
from kit.revocations import revocation_list_age, token_verification
from kit.tracing import aiohttp_trace_config, install_tracing


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(json=settings.log_json, level=settings.log_level)
        # One pooled session for all downstream calls (aiohttp: measured far cheaper per hop than httpx).
        connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=30)
        timeout = aiohttp.ClientTimeout(total=settings.downstream_timeout)
        traced = [aiohttp_trace_config(app.state.tracer_provider.get_tracer("effekt"))]
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=traced) as http,
            token_verification(app, settings),  # app.state.token_verifier, with identity's revocation list
        ):
            app.state.http = http
            gc.collect()
            gc.freeze()
            yield
            app.state.ledger_streams.close()
        app.state.tracer_provider.shutdown()

    app = FastAPI(title="Effekt gateway", version="1.0.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    install_problem_handlers(app)
    install_metrics(app)
    install_tracing(app, "gateway")  # inside the request id middleware, which clears the log context
    app.add_middleware(RequestIdMiddleware)
    # Partner UIs call the graph from their own origins (kit/cors.py).
    install_cors(app, settings, ("/graphql",), identity_origins(settings.cors_origins_url))
    app.state.schemas = schemas(production=settings.production)
    app.state.ledger_streams = ledger_streams(settings)  # one shared reader per partnership view
    graphql = EffektGraphQLRouter(
        build_schema("operator", production=settings.production),
        trusted_documents=TrustedDocuments.from_file(settings.trusted_documents_path),
        trusted_documents_only=settings.only_trusted_documents,
        mask_errors=settings.production,
        context_getter=get_context,
        graphql_ide=None,  # gateway/graphiql serves the IDE from its own files, not strawberry's CDN page
        multipart_uploads_enabled=False,
        allow_queries_via_get=False,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        authenticate_socket=lambda params: authenticate_socket(app.state, params),
        origins=app.state.cors_origins,  # a partner UI's page may open the socket too
    )
    if not settings.production:
        app.include_router(graphiql_router)
        app.add_middleware(
            GraphiQLPage,
            issuer=settings.issuer,
            client_id=settings.graphiql_client_id,
            demo_file=settings.graphiql_demo_file,
        )
    app.include_router(graphql, prefix="/graphql")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "gateway"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        http: aiohttp.ClientSession = request.app.state.http

        async def check(url: str) -> str:
            try:
                async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    return "ok" if resp.status == 200 else f"status {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                return f"unreachable: {type(exc).__name__}"

        names = list(settings.service_urls)
        results = await asyncio.gather(*(check(settings.service_urls[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        # Reported, never a reason to be unready (kit/app.py says why).
        revocations = revocation_list_age(request.app)
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "service": "gateway", "checks": checks, **revocations})
        return JSONResponse(
            {
                "type": "https://effekt.dk/problems/not-ready",
                "title": "Not ready",
                "status": 503,
                "code": "not-ready",
                "service": "gateway",
                "checks": checks,
                **revocations,
            },
            status_code=503,
            media_type="application/problem+json",
        )

    return app
