"""Alembic environment for the outcomes service."""

import services.outcomes.audits.models
import services.outcomes.bulk.models
import services.outcomes.cohorts.models
import services.outcomes.models
import services.outcomes.webhooks.models  # noqa: F401 - the webhook tables
from kit.migrations import run_migrations
from services.outcomes.db import Base
from services.outcomes.settings import Settings

settings = Settings()
# The ledger is append-only: the runtime role reads and inserts it, never updates or deletes (its triggers
# refuse those too).
run_migrations(
    Base.metadata, settings.migration_url, runtime_url=settings.database_url, append_only=("ledger_events",)
)
