"""Cursor pagination: opaque, URL-safe cursors over a stable sort key, and the `Page[T]` envelope."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field

from kit.problems import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor=` to read the next page; absent on the last page."
    )


def encode_cursor(*key: Any) -> str:
    raw = json.dumps([str(part) for part in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadRequest.field("cursor", "not a cursor this API issued") from exc
    if not isinstance(key, list) or len(key) != parts or not all(isinstance(p, str) for p in key):
        raise BadRequest.field("cursor", "not a cursor this API issued")
    return key


# Documented only: a query `pattern` would make FastAPI answer a bad list with its own 422, not the 400
# naming `ids` that `parse_ids` gives.
_UUID = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
UUID_LIST_PATTERN = f"^({_UUID}(,{_UUID})*)?$"  # empty: an empty batch


def ids_query(at_most: int = MAX_LIMIT) -> Any:
    """The `ids=` query parameter of a batch read."""
    return Query(
        description=f"Comma-separated ids: a batch read (at most {at_most}).",
        json_schema_extra={"pattern": UUID_LIST_PATTERN},
    )


# The query parameters every listing names alike: `limit=`, and a batch read's `ids=`.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
IdList = Annotated[str | None, ids_query()]


def parse_ids(raw: str | None, *, at_most: int = MAX_LIMIT) -> list[UUID] | None:
    """`ids=a,b,c` (the gateway's batch loaders read through these): None when absent."""
    if raw is None:
        return None
    parts = raw.split(",") if raw else []
    if len(parts) > at_most:
        raise BadRequest.field("ids", f"at most {at_most} ids")
    try:
        if not raw.isascii():  # UUID() also reads other scripts' digits
            raise ValueError
        return [UUID(p) for p in parts]
    except ValueError:
        raise BadRequest.field("ids", "must be comma-separated UUIDs") from None
