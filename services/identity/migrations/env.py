"""Alembic environment for the identity service."""

import services.identity.models  # noqa: F401 - registers the tables on Base.metadata
from kit.migrations import run_migrations
from services.identity.db import Base
from services.identity.settings import Settings

settings = Settings()
run_migrations(Base.metadata, settings.migration_url, runtime_url=settings.database_url)
