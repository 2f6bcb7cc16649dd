"""Which partnerships' rows the current task's database transactions may touch (row-level security).

The services' migrations put a policy on every table holding partnership data that admits a row only when
its partnership is named in the transaction-local setting `effekt.partnerships` (kit/db.py sets it as each
transaction begins). kit.auth binds the verified caller's partnerships here for the rest of its request.
Nothing here imports a database library: the gateway verifies tokens too.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from uuid import UUID

# The setting the row policies read: partnership ids, comma-separated, or `*` for every partnership.
# Unset or empty admits no partnership's rows.
PARTNERSHIPS_SETTING = "effekt.partnerships"
EVERY_PARTNERSHIP = "*"

_row_context: ContextVar[str] = ContextVar("effekt_row_context", default="")


def bind_partnerships(partnership_ids: Iterable[UUID], *, every: bool = False) -> None:
    """Name the partnerships the current task's transactions may touch: the verified caller's (or every
    one, for a caller whose rules span them all, the operator). Lasts for the task (a request), never past
    it: each request runs in a task of its own, with a copy of the server's empty context."""
    _row_context.set(EVERY_PARTNERSHIP if every else ",".join(sorted(str(p) for p in partnership_ids)))


def row_context() -> str:
    """What the current task's transactions will name: ids, `*`, or empty for none."""
    return _row_context.get()
