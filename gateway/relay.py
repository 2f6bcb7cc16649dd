"""Relay's conventions: cursor connections over the services' `Page[T]` listings, and global ids.

A connection's cursors are the services' own opaque cursors, passed through unchanged: the gateway keeps no
paging state. `first` is capped at the services' page limit; the cost rule (hardening.py) multiplies a
connection's children by `first`.

Every object that can be read again by id is a `Node`: its `id` is a global id naming its type, and a
global id is only ever looked up as the type it names (`uuid_of`), so a `Claim`'s id passed where a
`Contract` is expected is refused, not read from the wrong table (docs/integrations/partner-ui.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Self, TypeVar
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.types import Info

from gateway.hardening import DomainError
from kit.pagination import Page

T = TypeVar("T")
R = TypeVar("R")
MAX_FIRST = 500
DEFAULT_FIRST = 50


@strawberry.type(
    description="Relay's page info. Paging is forward (`first`/`after`): `hasPreviousPage` is true when the "
    "page was read `after` a cursor, as the Relay specification allows for forward paging."
)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        default=None, description="Set when the whole list was read anyway (small, partnership-wide lists)."
    )

    @strawberry.field(description="The nodes without their edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_FIRST:
        raise DomainError(f"`first` must be between 1 and {MAX_FIRST}", code="invalid-page-size")
    return first


def from_page(
    page: Page[R], make: Callable[[R], T], cursor_of: Callable[[T], str], *, after: str | None = None
) -> Connection[T]:
    """A connection from one service page (`items`, `next_cursor`), read after the cursor `after`."""
    nodes = [make(item) for item in page.items]
    end = page.next_cursor
    edges = [Edge(cursor=cursor_of(n), node=n) for n in nodes]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=end is not None,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=end or (edges[-1].cursor if edges else None),
        ),
    )


# --- global ids ---------------------------------------------------------------------------------------------


class GlobalNode(relay.Node):
    """A Relay node whose global id is `base64("<TypeName>:<uuid>")` (strawberry's `GlobalID`) and whose
    raw UUID, the id REST uses, stays readable as `uuid`. Each node type declares `uuid: UUID` and is read
    back by `node(id:)` through nodes.py, which asks the same loader and policy as the typed field."""

    if TYPE_CHECKING:
        uuid: UUID

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info) -> str:
        return str(root.uuid)


class WrongNode(DomainError):
    """A global id of another type than the argument takes (a `Claim` id passed as `contractId`), or no
    global id at all: refused, never looked up as the type the argument names."""

    def __init__(self, field: str, expected: str, got: str | None) -> None:
        reason = (
            f"expected a global id of a {expected}, got one of a {got}"
            if got
            else f"expected a global id of a {expected}"
        )
        super().__init__(
            f"`{field}` is not a {expected} id",
            code="wrong-node-type",
            status=422,
            invalid_params=[{"name": field, "reason": reason}],
        )


def uuid_of(global_id: relay.GlobalID, type_name: str, *, field: str) -> UUID:
    """The UUID inside `global_id` when it is a `type_name`'s id; else `WrongNode`. `field` is the
    argument's name as the service knows it (`contract_id`): results.py turns it into the GraphQL path."""
    if global_id.type_name != type_name:
        raise WrongNode(field, type_name, global_id.type_name)
    try:
        return UUID(global_id.node_id)
    except ValueError:
        raise WrongNode(field, type_name, None) from None


def uuid_or_none(global_id: relay.GlobalID, type_name: str) -> UUID | None:
    """For reads: the UUID when `global_id` is a `type_name`'s, else None (not found, as a read of an id
    the caller may not see)."""
    try:
        return uuid_of(global_id, type_name, field="id")
    except WrongNode:
        return None
