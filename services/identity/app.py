"""The identity service's FastAPI app."""

from pathlib import Path

from fastapi import FastAPI

from kit.app import service_app
from kit.cors import install_cors
from kit.idempotency import idempotency_sweep
from services.identity.applications.routes import router as applications_router
from services.identity.bootstrap import identity_state
from services.identity.directory.routes import router as directory_router
from services.identity.housekeeping import housekeeping
from services.identity.models import idempotency_keys
from services.identity.oauth.routes import keys_router
from services.identity.oauth.routes import router as oauth_router
from services.identity.origins import registered_origins
from services.identity.partnerships.routes import router as partnerships_router
from services.identity.revocations.routes import router as revocations_router
from services.identity.settings import Settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
# What a partner UI calls from its own origin: discovery, keys, tokens, revocation, user info. The
# authorisation and end-session endpoints are navigations, and the admin API is for servers and the
# gateway, so neither answers CORS.
CORS_PATHS = (
    "/.well-known/",
    "/jwks.json",
    "/oauth2/token",
    "/oauth2/revoke",
    "/oauth2/userinfo",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = service_app(
        name="identity",
        settings=settings,
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

    async def origins() -> list[str]:
        async with app.state.sessionmaker() as session:
            return await registered_origins(session)

    install_cors(app, settings, CORS_PATHS, origins)
    return app
