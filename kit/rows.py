"""Which partnerships' rows the current task's database transactions may touch (row-level security).

The services' migrations put a policy on every table holding partnership data that admits a row only when
its partnership is named in the transaction-local setting `effekt.partnerships`, or, for rows an
organisation owns whatever its memberships (its webhook subscriptions, its bulk imports), when that
organisation is `effekt.organisation`. kit/db.py sets both as each transaction begins; kit.auth binds the
verified caller's here for the rest of its request; one transaction serving several callers (a group of
single writes) names the context `spanning` theirs. Nothing here imports a database library: the
gateway verifies tokens too.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import NamedTuple
from uuid import UUID

# The settings the row policies read. Partnerships: ids, comma-separated, or `*` for every partnership;
# unset or empty admits no partnership's rows. Organisation: one id, or empty.
PARTNERSHIPS_SETTING = "effekt.partnerships"
ORGANISATION_SETTING = "effekt.organisation"
EVERY_PARTNERSHIP = "*"

# The row policies' conditions, as the services' 2026-12-03-1500 migrations install them (a change to
# these is a new migration: an installed policy does not follow the text). Each reading of a setting is a
# scalar subquery, so PostgreSQL computes it once per statement (an InitPlan) instead of parsing and
# casting the list for every row; `* = all`, empty = none and unset = none are as before. The cast sees
# NULL for `*`, so no branch ever casts it. The outer `::uuid[]` keeps `= ANY (...)` an array comparison
# rather than a subquery one (a no-op cast).
_PARTNERSHIPS = f"current_setting('{PARTNERSHIPS_SETTING}', true)"
PARTNERSHIP_ROWS = (
    f"((SELECT {_PARTNERSHIPS} = '{EVERY_PARTNERSHIP}') OR partnership_id = ANY "
    f"((SELECT string_to_array(nullif({_PARTNERSHIPS}, '{EVERY_PARTNERSHIP}'), ',')::uuid[])::uuid[]))"
)
ORGANISATION_ROWS = (
    f"organisation_id = (SELECT nullif(current_setting('{ORGANISATION_SETTING}', true), '')::uuid)"
)


class RowContext(NamedTuple):
    partnerships: str = ""
    organisation: str = ""


EVERY = RowContext(EVERY_PARTNERSHIP)
NOBODY = RowContext()
_row_context: ContextVar[RowContext] = ContextVar("effekt_row_context", default=NOBODY)


def bind_partnerships(
    partnership_ids: Iterable[UUID], *, every: bool = False, organisation_id: UUID | None = None
) -> None:
    """Name the partnerships the current task's transactions may touch: the verified caller's (or every
    one, for a caller whose rules span them all, the operator), and the organisation it acts for. Lasts for
    the task (a request), never past it: each request runs in a task of its own, with a copy of the
    server's empty context."""
    partnerships = EVERY_PARTNERSHIP if every else ",".join(sorted(str(p) for p in partnership_ids))
    bind_context(RowContext(partnerships, str(organisation_id) if organisation_id else ""))


def bind_context(context: RowContext) -> None:
    """Name `context` for the current task's transactions (a group's worker, writing for its callers)."""
    _row_context.set(context)


def row_context() -> RowContext:
    """What the current task's transactions will name (empty: no partnership, no organisation)."""
    return _row_context.get()


def spanning(contexts: Iterable[RowContext]) -> RowContext:
    """One transaction's context serving several callers (a group of single writes): every partnership any
    of them names, and their organisation only when all act for the same one. It is wider than each
    caller's own, so row security no longer walls one caller off from another's rows: whatever runs under
    it must admit each caller's items by that caller's own rules, in SQL. `*` spans only itself (an
    operator's groups are never merged with others'): ValueError, as for no context at all."""
    given = set(contexts)
    if len(given) == 1:
        return given.pop()
    if not given or any(c.partnerships == EVERY_PARTNERSHIP for c in given):
        raise ValueError("a spanning context needs callers' contexts, none of them `*`")
    partnerships = {p for c in given for p in c.partnerships.split(",") if p}
    organisations = {c.organisation for c in given}
    return RowContext(",".join(sorted(partnerships)), organisations.pop() if len(organisations) == 1 else "")
