"""Relay-style cursor connections over the services' `Page[T]` listings.

A connection's cursors are the services' own opaque cursors, passed through unchanged: the gateway keeps no
paging state. `first` is capped at the services' page limit; the cost rule (hardening.py) multiplies a
connection's children by `first`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

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
