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


@strawberry.type
class PageInfo:
    has_next_page: bool
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


def from_page(page: Page[R], make: Callable[[R], T], cursor_of: Callable[[T], str]) -> Connection[T]:
    """A connection from one service page (`items`, `next_cursor`)."""
    nodes = [make(item) for item in page.items]
    end = page.next_cursor
    return Connection(
        edges=[Edge(cursor=cursor_of(n), node=n) for n in nodes],
        page_info=PageInfo(
            has_next_page=end is not None, end_cursor=end or (cursor_of(nodes[-1]) if nodes else None)
        ),
    )
