"""Optimistic concurrency with row versions as ETags: `ETag: "<n>"` out, `If-Match: "<n>"` (or the weak
`W/"<n>"`) back in. A stale version is the service's 409 or 412; a malformed one is a 400 naming the
header. (The contract registry's ETags are content hashes, with lists and `*`: it has its own.)

`check_version(row.version, expected)` is the one comparison every row-versioned write makes."""

from __future__ import annotations

from typing import Any

from fastapi import Header

from kit.problems import BadRequest, PreconditionFailed

IF_MATCH_PATTERN = r'^\s*(W/)?"?[0-9]+"?\s*$'


def if_match_header(description: str) -> Any:
    """The `If-Match` header parameter, its format documented (not enforced by FastAPI, whose 422 would
    not name the header as `parse_if_match`'s 400 does)."""
    return Header(alias="If-Match", description=description, json_schema_extra={"pattern": IF_MATCH_PATTERN})


def parse_if_match(raw: str | None) -> int | None:
    """The version the client read, or None when it sent no If-Match."""
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):  # isdigit alone takes "²" (int() raises) and "٣" (= 3)
        raise BadRequest.field("If-Match", "must be an ETag this API sent")
    return int(value)


class VersionMismatch(PreconditionFailed):
    code, title = "version-mismatch", "The resource changed since you read it"


def check_version(current: int, expected: int | None) -> None:
    """Refuse a write made against another version than the row's; `expected` None is unconditional."""
    if expected is not None and expected != current:
        raise VersionMismatch(f"expected version {expected}, the resource is at version {current}")
