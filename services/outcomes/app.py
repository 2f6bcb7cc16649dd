"""The outcomes service's FastAPI app."""

from pathlib import Path

from fastapi import FastAPI

from kit.app import service_app
from services.outcomes.settings import Settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def create_app(settings: Settings | None = None) -> FastAPI:
    return service_app(
        name="outcomes",
        settings=settings or Settings(),
        alembic_ini=ALEMBIC_INI,
        routers=[],
    )
