"""The outcomes service's tables."""

from kit.idempotency import idempotency_table
from services.outcomes.db import Base

idempotency_keys = idempotency_table(Base.metadata)
