"""Limits a public GraphQL endpoint needs that strawberry does not ship: a query cost limit, trusted
(persisted) documents, and error masking that keeps domain errors but hides everything unexpected.

Depth, alias and token limits are strawberry's own extensions (see schema.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
)
from strawberry.extensions import MaskErrors

# A list argument given as a variable (or not at all) is costed at this page size.
DEFAULT_PAGE = 50
PAGE_ARGUMENTS = ("first", "last", "limit")
# A list field without a page argument (a participant's claims, a partnership's members) is costed as
# this many items; a connection's `edges`/`nodes` are already sized by the connection's `first`. A list of
# scalars (`myRoles`, `suppressed`) holds no fields to resolve: it costs 1, like any scalar.
UNPAGED_LIST = 5
CONNECTION_LISTS = ("edges", "nodes")


class DomainError(Exception):
    """An error the client may see verbatim (a refused permission, a missing row, a service's problem)."""

    def __init__(self, message: str, *, code: str, **extensions: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extensions = {"code": code, **extensions}


def _page_size(node: FieldNode) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value in PAGE_ARGUMENTS:
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return DEFAULT_PAGE
    return None


def _field_type(parent: GraphQLNamedType | None, name: str) -> tuple[bool, GraphQLNamedType | None]:
    """Whether `parent.name` is a list, and the named type it returns (unknown without a schema)."""
    if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) or name not in parent.fields:
        return False, None
    field_type = parent.fields[name].type
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList), get_named_type(field_type)


def selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
    parent: GraphQLNamedType | None = None,
    schema: GraphQLSchema | None = None,
) -> int:
    """Each field costs 1, multiplied by the page sizes of the lists that contain it. With the schema,
    a list without a page argument counts as `UNPAGED_LIST` items."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            is_list, returns = _field_type(parent, selection.name.value)
            size = _page_size(selection)
            if size is None:
                unpaged = (
                    is_list
                    and selection.selection_set is not None
                    and selection.name.value not in CONNECTION_LISTS
                )
                size = UNPAGED_LIST if unpaged else 1
            inner = selection_cost(selection.selection_set, fragments, seen, returns, schema)
            total += size * (1 + inner)
        elif isinstance(selection, InlineFragmentNode):
            narrowed = parent
            if selection.type_condition is not None and schema is not None:
                narrowed = schema.get_type(selection.type_condition.name.value)
            total += selection_cost(selection.selection_set, fragments, seen, narrowed, schema)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                continue  # cycles and unknown fragments are the standard rules' to report
            fragment = fragments[name]
            narrowed = schema.get_type(fragment.type_condition.name.value) if schema is not None else parent
            total += selection_cost(fragment.selection_set, fragments, seen | {name}, narrowed, schema)
    return total


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                schema = context.schema
                root = schema.get_root_type(definition.operation)
                cost = selection_cost(definition.selection_set, fragments, parent=root, schema=schema)
                if cost > max_cost:
                    name = definition.name.value if definition.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"Operation '{name}' costs {cost}, above the limit of {max_cost}; "
                            "ask for fewer items per page or fewer nested lists.",
                            definition,
                            extensions={"code": "query-too-costly", "cost": cost, "max_cost": max_cost},
                        )
                    )

    return CostLimit


def document_id(query: str) -> str:
    return "sha256:" + hashlib.sha256(query.encode()).hexdigest()


class TrustedDocuments:
    """The operations partner UIs ship, by `sha256:<hex>` id; in production the only ones accepted."""

    def __init__(self, documents: Iterable[str] = ()) -> None:
        self._by_id = {document_id(q): q for q in documents}

    @classmethod
    def from_file(cls, path: Path) -> TrustedDocuments:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        trusted = cls()
        for key, query in data.items():
            if document_id(query) != key:
                raise ValueError(f"{path}: {key} is not the SHA-256 of its document")
            trusted._by_id[key] = query
        return trusted

    def __contains__(self, query: str) -> bool:
        return document_id(query) in self._by_id

    def get(self, key: str) -> str | None:
        return self._by_id.get(key if key.startswith("sha256:") else f"sha256:{key}")


def is_client_safe(error: GraphQLError) -> bool:
    """Errors raised by GraphQL itself (syntax, validation, limits) and `DomainError`s are shown as is."""
    original = error.original_error
    return original is None or isinstance(original, DomainError)


class MaskUnexpectedErrors(MaskErrors):
    """Production masking inside the schema, so it covers WebSocket operations too (the HTTP view adds
    the request id); the message and code match what the HTTP view shows."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_client_safe(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            "Unexpected error; quote the request id.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "internal-error"},
        )
