"""One construction of a GraphQL object from a service client's row: each data field of the strawberry type
is the row's attribute of the same name, converted by the field's GraphQL type (an enum from its value, a
nested object type from its nested row, lists and optionals through). A node's `uuid` is the row's `id`.

So adding a field touches the service's schema, the client's row (gateway/clients/) and the GraphQL type,
never a copy in between. What is not a plain copy (a value derived from another, a private row kept for a
resolver) the type passes as `overrides`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition

from gateway.clients.transport import Row

T = TypeVar("T")


def _convert(value: Any, field_type: Any) -> Any:
    if value is None:  # a list the row leaves out is empty, unless the GraphQL type says it may be null
        return [] if isinstance(field_type, StrawberryList) else None
    if isinstance(field_type, StrawberryOptional):
        return _convert(value, field_type.of_type)
    if isinstance(field_type, StrawberryList):
        return [_convert(item, field_type.of_type) for item in value]
    if isinstance(field_type, StrawberryEnumDefinition):
        return field_type.wrapped_cls(value)
    if isinstance(value, Row) and get_object_definition(field_type) is not None:
        own = getattr(field_type, "from_row", None)  # a nested type's own overrides (withheld names, ...)
        return own(value) if own is not None else from_row(field_type, value)
    return value


def from_row(cls: type[T], row: Row, /, **overrides: Any) -> T:
    """`cls` (a strawberry type) built from `row`: every field without a resolver, by name."""
    definition = get_object_definition(cls, strict=True)
    values: dict[str, Any] = {}
    for field in definition.fields:
        name = field.python_name
        if field.base_resolver is not None or name in overrides:
            continue
        source = "id" if name == "uuid" else name
        values[name] = _convert(getattr(row, source), field.type)
    return cls(**values, **overrides)
