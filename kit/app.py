"""`service_app()`: the FastAPI app every Effekt service is, before its own routes.

It wires what every service shares: problem+json errors (and an OpenAPI document that says so), request
ids, JSON logs, Prometheus metrics at `/metrics`, OpenTelemetry traces, the database engine and
per-request session, token verification (with identity's revocation list polled in the background, see
kit/revocations.py), `/healthz` and `/readyz`, and migrations on start-up in development. A service adds
routers and, if it needs them, start-up/shutdown hooks of its own.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy.exc
import structlog
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.auth import TokenVerifier
from kit.db import (
    create_engine,
    create_sessionmaker,
    install_transient_failure_handler,
    migrations_at_head,
    ping,
    row_security_bypass,
    system_sessionmaker,
    upgrade_to_head,
)
from kit.http import RequestIdMiddleware
from kit.logging import configure_logging
from kit.metrics import install_metrics
from kit.openapi import complete
from kit.problems import PROBLEM_CONTENT, ProblemDetail, install_problem_handlers
from kit.revocations import revocation_list_age, token_verification
from kit.settings import InsecureConfiguration, ServiceSettings
from kit.tracing import install_tracing

log = structlog.get_logger(__name__)

Hook = Callable[[FastAPI], Awaitable[None]]
LifespanPart = Callable[[FastAPI], Any]  # an async context manager factory, entered after the database


def service_app(
    *,
    name: str,
    settings: ServiceSettings,
    alembic_ini: Path,
    routers: Sequence[APIRouter],
    description: str = "",
    lifespan_parts: Sequence[LifespanPart] = (),
    token_verifier: TokenVerifier | None = None,
) -> FastAPI:
    """Build a service app. `lifespan_parts` run inside the lifespan, after the database is up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(json=settings.log_json, level=settings.log_level)
        if settings.migrates_on_start:
            await upgrade_to_head(alembic_ini, settings.migration_url)
        engine = create_engine(
            settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
        )
        app.state.engine = engine
        app.state.metrics.observe_pool(engine)
        app.state.sessionmaker = create_sessionmaker(engine)
        # Background work that serves every partnership, and only that (docs/operations.md).
        app.state.system_sessionmaker = system_sessionmaker(engine)
        await _refuse_row_security_bypass(engine, settings)
        async with AsyncExitStack() as stack:
            if token_verifier is not None:
                app.state.token_verifier = token_verifier
            else:
                await stack.enter_async_context(token_verification(app, settings))
            for part in lifespan_parts:
                await stack.enter_async_context(part(app))
            # Objects alive after start-up live for the process: keep the collector from rescanning them.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                await stack.aclose()
                await engine.dispose()
                app.state.tracer_provider.shutdown()

    app = FastAPI(
        title=f"Effekt {name}",
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # Swagger UI's Authorize button runs identity's authorisation code flow as identity requires it.
        swagger_ui_init_oauth={"usePkceWithAuthorizationCodeGrant": True, "scopeSeparator": " "},
        # Traces and metrics are kit's (kit/tracing.py, kit/metrics.py). FastAPI's own telemetry would
        # add a second server span once a global provider is set, and with none set it still asked for
        # the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_problem_handlers(app)
    install_transient_failure_handler(app)
    # Outermost last: request id, then the trace (bound into the log context), then timing and access log.
    install_metrics(app)
    install_tracing(app, name)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router(name, alembic_ini))
    for router in routers:
        app.include_router(router)
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
    return app


async def _refuse_row_security_bypass(engine: AsyncEngine, settings: ServiceSettings) -> None:
    """Production refuses to serve as a role the row policies do not bind; elsewhere it is said once.
    A database that is not up yet is left to `/readyz`, which reports it."""
    try:
        reasons = await row_security_bypass(engine)
    except (OSError, sqlalchemy.exc.DBAPIError):
        return
    if reasons and settings.production:
        raise InsecureConfiguration(
            f"refusing to serve: {'; '.join(reasons)}; connect as the runtime role (docs/operations.md)"
        )
    if reasons:
        log.warning("row_security.bypassed", reasons=reasons)


def health_router(name: str, alembic_ini: Path) -> APIRouter:
    """Both answers name the service, so a launcher or probe can tell it reached the process it meant."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @router.get(
        "/readyz",
        summary="The database answers and its schema is at the latest migration",
        responses={503: {"description": "Not ready", "content": PROBLEM_CONTENT}},
    )
    async def readyz(request: Request) -> JSONResponse:
        engine = request.app.state.engine
        checks: dict[str, str] = {}
        try:
            await ping(engine)
            checks["database"] = "ok"
            at_head = await migrations_at_head(engine, alembic_ini)
            checks["migrations"] = "ok" if at_head else await _behind_or_ahead(engine, alembic_ini)
        except Exception as exc:
            checks.setdefault("database", f"unreachable: {type(exc).__name__}")
        ready = all(v == "ok" for v in checks.values())
        # Reported, never a reason to be unready: a stale list still serves (kit/revocations.py), and
        # taking every replica out of service because identity is down would turn its outage into ours.
        revocations = revocation_list_age(request.app)
        if ready:
            return JSONResponse({"status": "ready", "service": name, "checks": checks, **revocations})
        return JSONResponse(
            {
                "type": "https://effekt.dk/problems/not-ready",
                "title": "Not ready",
                "status": 503,
                "code": "not-ready",
                "service": name,
                "checks": checks,
                **revocations,
            },
            status_code=503,
            media_type="application/problem+json",
        )

    return router


async def _behind_or_ahead(engine: AsyncEngine, alembic_ini: Path) -> str:
    """`ok` when the database carries a revision this release does not know: a newer release's
    migration ran first (migrations are backward compatible), and this pod must keep serving until it is
    replaced. `behind` when the database lacks this release's migrations."""
    known = {
        script.revision for script in ScriptDirectory.from_config(Config(str(alembic_ini))).walk_revisions()
    }
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
    return "ok" if current and not set(current) <= known else "behind"


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with FastAPI's `{"detail": ...}` errors replaced by problem+json, and
    security, headers and parameters as kit/openapi.py completes them."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem_schema = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem_schema.pop("$defs", {}).items():
        components[name] = definition
    components["ProblemDetail"] = problem_schema
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {"description": "The request is not valid", "content": PROBLEM_CONTENT}
            responses.setdefault("default", {"description": "An error", "content": PROBLEM_CONTENT})
    settings: ServiceSettings = app.state.settings
    complete(schema, list(app.routes), issuer=settings.issuer)
    app.openapi_schema = schema
    return schema
