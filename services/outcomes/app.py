"""The outcomes service's FastAPI app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kit.app import service_app
from kit.cors import identity_origins, install_cors
from kit.idempotency import idempotency_sweep
from services.outcomes.audits.routes import router as audit_router
from services.outcomes.bulk.routes import router as bulk_router
from services.outcomes.claims.routes import router as claim_router
from services.outcomes.clients.contracts import ContractsClient
from services.outcomes.cohorts.routes import router as cohort_router
from services.outcomes.contract_events import contract_events_lifespan
from services.outcomes.erasures.routes import router as erasure_router
from services.outcomes.feed.routes import router as feed_router
from services.outcomes.integrations import integrations_lifespan
from services.outcomes.ledger.routes import export_router
from services.outcomes.ledger.routes import router as ledger_router
from services.outcomes.models import idempotency_keys
from services.outcomes.participants.routes import router as participant_router
from services.outcomes.settings import Settings
from services.outcomes.statements.routes import router as statement_router
from services.outcomes.statements.tallies import compaction_lifespan
from services.outcomes.webhooks.routes import router as webhook_router

CORS_PATHS = ("/v1/feed", "/v1/feed/stream")
ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def collaborators(app: FastAPI) -> AsyncIterator[None]:
        app.state.partnership_keys = settings.partnership_keys()
        app.state.contracts = ContractsClient(
            settings.contracts_url,
            timeout=settings.contracts_timeout,
            in_force_ttl=settings.contracts_in_force_ttl,
        )
        try:
            yield
        finally:
            await app.state.contracts.aclose()

    app = service_app(
        name="outcomes",
        settings=settings,
        alembic_ini=ALEMBIC_INI,
        routers=[
            participant_router,
            claim_router,
            statement_router,
            ledger_router,
            feed_router,
            export_router,
            webhook_router,
            bulk_router,
            erasure_router,
            audit_router,
            cohort_router,
        ],
        description="Pseudonymous participants, outcome claims, verification, pricing, the tamper-evident "
        "ledger and payment statements.",
        lifespan_parts=[
            collaborators,
            integrations_lifespan(settings),
            compaction_lifespan(),
            contract_events_lifespan(settings),
            idempotency_sweep(idempotency_keys),
        ],
    )
    # The feed and its live stream, read by partner UIs from their own origins (kit/cors.py).
    install_cors(app, settings, CORS_PATHS, identity_origins(settings.cors_origins_url))
    return app
