"""Alembic environment for the outcomes service."""

import services.outcomes.bulk.models
import services.outcomes.models
import services.outcomes.webhooks.models  # noqa: F401 - the webhook tables
from kit.migrations import run_migrations
from services.outcomes.db import Base
from services.outcomes.settings import Settings

run_migrations(Base.metadata, Settings().database_url)
