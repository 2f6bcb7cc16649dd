"""Alembic environment for the contracts service."""

import services.contracts.disclosure.models
import services.contracts.models  # noqa: F401 - registers the tables on Base.metadata
from kit.migrations import run_migrations
from services.contracts.db import Base
from services.contracts.settings import Settings

settings = Settings()
run_migrations(Base.metadata, settings.migration_url, runtime_url=settings.database_url)
