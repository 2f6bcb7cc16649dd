"""The contracts service's FastAPI app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from kit.app import service_app
from kit.idempotency import idempotency_sweep
from services.contracts.attachments.routes import router as attachments_router
from services.contracts.clients.identity import IdentityClient
from services.contracts.clients.outcomes import OutcomesClient
from services.contracts.disclosure.limits import PerAddressLimit
from services.contracts.disclosure.routes import router as disclosure_router
from services.contracts.models import idempotency_keys
from services.contracts.routes import router
from services.contracts.settings import Settings
from services.contracts.signing.routes import router as signing_router

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def identity_client(app: FastAPI) -> AsyncIterator[None]:
        async with (
            httpx.AsyncClient(timeout=settings.identity_timeout) as http,
            httpx.AsyncClient(timeout=settings.outcomes_timeout) as outcomes_http,
        ):
            app.state.identity = IdentityClient(settings.identity_url, http=http)
            app.state.outcomes = OutcomesClient(settings.outcomes_url, http=outcomes_http)
            app.state.public_reads = PerAddressLimit(settings.public_reads_per_minute)
            yield

    return service_app(
        name="contracts",
        settings=settings,
        alembic_ini=ALEMBIC_INI,
        routers=[router, signing_router, attachments_router, disclosure_router],
        description="Versioned outcome contracts: terms, tariffs, caps, payer splits and signatures.",
        lifespan_parts=[identity_client, idempotency_sweep(idempotency_keys)],
    )
