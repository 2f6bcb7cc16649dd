"""The identity service's FastAPI app."""

from pathlib import Path

from fastapi import FastAPI

from kit.app import service_app
from kit.idempotency import idempotency_sweep
from services.identity.applications.routes import router as applications_router
from services.identity.bootstrap import identity_state
from services.identity.directory.routes import router as directory_router
from services.identity.housekeeping import housekeeping
from services.identity.models import idempotency_keys
from services.identity.oauth.routes import keys_router
from services.identity.oauth.routes import router as oauth_router
from services.identity.partnerships.routes import router as partnerships_router
from services.identity.revocations.routes import router as revocations_router
from services.identity.settings import Settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def create_app(settings: Settings | None = None) -> FastAPI:
    return service_app(
        name="identity",
        settings=settings or Settings(),
        alembic_ini=ALEMBIC_INI,
        routers=[
            oauth_router,
            directory_router,
            partnerships_router,
            applications_router,
            keys_router,
            revocations_router,
        ],
        description="Organisations, users, partnerships and memberships, OAuth2 clients, and the OAuth2/OIDC "
        "authorisation server that signs every token the platform trusts.",
        lifespan_parts=[identity_state, housekeeping, idempotency_sweep(idempotency_keys)],
    )
